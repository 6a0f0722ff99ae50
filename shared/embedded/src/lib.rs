//! The embedded store: every port of `ports` on SQLite, in one file.
//!
//! Leads, identities, transitions, activities, counters, documents, idempotency claims and the
//! queues all live in the same database, so a [`Commit`](ports::Commit) — claims, lead,
//! history, counters, documents *and* its outbox messages — is one SQLite transaction: a real
//! transactional outbox. A crash at any point leaves either all of it or none of it.
//!
//! # Concurrency model
//!
//! One [`rusqlite::Connection`] behind a [`Mutex`]. Every call takes the lock on a blocking
//! thread (`tokio::task::spawn_blocking`), so async callers never block the runtime, and calls
//! run one at a time. Writes run in `BEGIN IMMEDIATE` transactions that check their conditions
//! (claim free, lead version, identities, documents) inside the transaction, so of two commits
//! against the same lead version exactly one wins and the other answers `Conflict`. A second
//! process opening the same file is safe too: `IMMEDIATE` takes SQLite's write lock up front,
//! and the busy timeout turns contention into a wait, then into `StoreError::Throttled`.
//! One connection is plenty for a laptop; it is not built for many concurrent readers.
//!
//! # Time
//!
//! "Now" (queue visibility, delays, claim and document expiry) comes from an injected
//! [`Clock`], so the local stack can run on a [`ManualClock`](ports::ManualClock).
//!
//! # Inspecting a file
//!
//! Bodies are JSON text and times RFC 3339 text, so the `sqlite3` shell is enough:
//!
//! ```text
//! sqlite3 journey.db "select id, version, json_extract(body, '$.journey.stage') from leads"
//! sqlite3 journey.db "select lead_id, seq, json_extract(body, '$.to') from transitions"
//! sqlite3 journey.db "select topic, id, receive_count, visible_at from queue"
//! sqlite3 journey.db "select topic, id, reason from dead_letters"
//! ```
//!
//! # Durability
//!
//! Files use WAL with `synchronous = NORMAL`: a process crash loses nothing committed, a power
//! cut may lose the last few commits (never half of one). That is the usual trade for a local
//! store; use [`EmbeddedStore::open_durable`] for `synchronous = FULL`.

mod codec;
mod commit;
mod documents;
mod journey;
mod queue;
mod schema;

pub use queue::{MAX_BODY_BYTES, MAX_DELAY_SECONDS};

use ports::{Clock, QueueError, StoreError, SystemClock};
use rusqlite::{Connection, ErrorCode};
use std::{
    fmt,
    path::Path,
    sync::{Arc, Mutex},
    time::Duration,
};

/// How the embedded queues retry and give up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueConfig {
    /// A message failed (or left to time out) on its `max_receives`-th receive moves to the
    /// dead-letter table.
    pub max_receives: u32,
    /// The back-off after the first failure; it doubles with every further receive.
    pub first_backoff_seconds: u32,
    /// The longest back-off.
    pub max_backoff_seconds: u32,
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self {
            max_receives: 5,
            first_backoff_seconds: 1,
            max_backoff_seconds: 60,
        }
    }
}

/// The embedded store. Cheap to clone: clones share the connection.
#[derive(Clone)]
pub struct EmbeddedStore {
    conn: Arc<Mutex<Connection>>,
    clock: Arc<dyn Clock>,
    queue: QueueConfig,
}

/// Why the store could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// SQLite could not open or set up the file.
    #[error("failed to open the database")]
    Sqlite(#[from] rusqlite::Error),
    /// The file was written by a newer build with a schema this one does not know.
    #[error("database schema version {found} is newer than this build's {supported}")]
    TooNew {
        /// The file's schema version.
        found: u32,
        /// The newest version this build knows.
        supported: u32,
    },
}

impl EmbeddedStore {
    /// Opens (or creates) the database file at `path`, migrating its schema.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, OpenError> {
        Self::open_file(path.as_ref(), "NORMAL")
    }

    /// Like [`open`](Self::open), but every commit is synced to disk before it returns.
    pub fn open_durable(path: impl AsRef<Path>) -> Result<Self, OpenError> {
        Self::open_file(path.as_ref(), "FULL")
    }

    /// A private database in memory, gone when the last clone is dropped. For tests.
    pub fn in_memory() -> Result<Self, OpenError> {
        Self::setup(Connection::open_in_memory()?)
    }

    /// The same store with `clock` as its notion of now.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The same store with other queue retry settings.
    pub fn with_queue_config(mut self, config: QueueConfig) -> Self {
        self.queue = config;
        self
    }

    /// The queue retry settings in force.
    pub fn queue_config(&self) -> QueueConfig {
        self.queue
    }

    fn open_file(path: &Path, synchronous: &str) -> Result<Self, OpenError> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(5))?;
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |_| Ok(()))?;
        conn.pragma_update(None, "synchronous", synchronous)?;
        // Deleted and overwritten content is zeroed, not left in free pages: an erased
        // person's form answers must not stay readable in the file (`strings journey.db`).
        // Pages already in the write-ahead log keep their old bytes until the next checkpoint
        // (SQLite's automatic one, every 1,000 pages, or a clean close).
        conn.pragma_update(None, "secure_delete", "ON")?;
        Self::setup(conn)
    }

    fn setup(mut conn: Connection) -> Result<Self, OpenError> {
        if let Err(found) = schema::migrate(&mut conn)? {
            return Err(OpenError::TooNew {
                found,
                supported: schema::VERSION,
            });
        }
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
            clock: Arc::new(SystemClock),
            queue: QueueConfig::default(),
        })
    }

    /// Runs `f` on the connection on a blocking thread, with the clock's "now".
    async fn run<T, F>(&self, f: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection, lifecycle::Timestamp) -> Result<T, Error> + Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        let now = self.clock.now();
        let task = tokio::task::spawn_blocking(move || {
            // A panic while the lock was held rolled its transaction back when the
            // transaction was dropped, so the connection is still consistent.
            let mut conn = conn.lock().unwrap_or_else(|e| e.into_inner());
            f(&mut conn, now)
        });
        task.await
            .map_err(|e| Error::Store(StoreError::Unavailable(Box::new(e))))?
    }

    /// Copies the write-ahead log into the database file and empties it: afterwards the file
    /// alone holds everything, and pages changed since (an erasure's, zeroed by
    /// `secure_delete`) are no longer readable in the log. SQLite does this on its own as the
    /// log grows and when the last connection closes; a process that exits without closing
    /// calls it.
    pub async fn checkpoint(&self) -> Result<(), StoreError> {
        self.run(|conn, _| {
            conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
            Ok(())
        })
        .await?;
        Ok(())
    }

    /// Deletes claims and documents whose `expires_at` has passed. Reads already ignore them;
    /// this only reclaims space. Returns how many rows went.
    pub async fn purge_expired(&self) -> Result<usize, StoreError> {
        let purged = self
            .run(|conn, now| {
                let now = codec::time(now);
                let claims = conn.execute("DELETE FROM claims WHERE expires_at <= ?1", [&now])?;
                let docs = conn.execute("DELETE FROM documents WHERE expires_at <= ?1", [&now])?;
                Ok(claims + docs)
            })
            .await?;
        Ok(purged)
    }
}

impl fmt::Debug for EmbeddedStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmbeddedStore")
            .field("queue", &self.queue)
            .finish_non_exhaustive()
    }
}

/// What went wrong inside the store, before it is told to a caller as a port error.
#[derive(Debug)]
pub(crate) enum Error {
    /// SQLite failed.
    Sql(rusqlite::Error),
    /// A port-level answer decided inside the store (a bad request, a corrupt row).
    Store(StoreError),
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        Error::Sql(e)
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        Error::Store(e)
    }
}

impl From<Error> for StoreError {
    fn from(e: Error) -> Self {
        match e {
            Error::Store(e) => e,
            Error::Sql(e) if is_busy(&e) => StoreError::Throttled(Box::new(e)),
            Error::Sql(e) => StoreError::Unavailable(Box::new(e)),
        }
    }
}

impl From<Error> for QueueError {
    fn from(e: Error) -> Self {
        match StoreError::from(e) {
            StoreError::Invalid(why) => QueueError::Invalid(why),
            other => QueueError::Unavailable(Box::new(other)),
        }
    }
}

/// Another connection holds the write lock: worth retrying.
fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    )
}
