"""Starts moto in server mode with DynamoDB requests handled one at a time.

moto applies TransactWriteItems by copying the whole table, applying the items in order and, if
any condition fails, putting the copy back. Under concurrent requests (moto's server is
threaded) that restore can erase another request's committed writes, or leave a cancelled
transaction's items behind. AWS never does either, so a concurrency test against a threaded
moto would test moto. This launcher serialises DynamoDB requests with one lock, which makes each
transaction atomic as on AWS; SQS requests (long polls among them) stay concurrent.

Usage: python moto_server.py HOST PORT
"""

import os
import sys
import threading

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import run_simple


class SerialDynamoDB:
    """WSGI middleware: one DynamoDB request at a time."""

    def __init__(self, app):
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if not target.startswith("DynamoDB_"):
            return self.app(environ, start_response)
        with self.lock:
            # Build the whole body inside the lock: the backend work happens while iterating.
            body = list(self.app(environ, start_response))
        return body


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    os.environ.setdefault("MOTO_PORT", str(port))
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(host, port, SerialDynamoDB(app), threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
