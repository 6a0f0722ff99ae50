//! The funnel page in a real browser, served by the local stack over HTTP.
//!
//! The stack (`journey serve`'s, on an in-memory store holding the bundled sample CRM export
//! and a few SLA clock outcomes) answers `GET /reports/funnel` and `GET /reports/funnel.html`.
//! Headless Chromium (Debian's `chromium`, installed by `infra/scripts/install-chromium.sh`)
//! opens the page over HTTP through a small proxy that adds the development identity header
//! (a browser cannot send it), and `--dump-dom` gives the DOM it rendered. Every figure read
//! from that DOM must equal the JSON report's, formatted here (one decimal percentages, counts
//! as integers), not by the page's code.
//!
//! A second load draws the page in a phone-wide frame (390 CSS pixels) from a harness page on
//! the same origin, whose script measures the laid-out page: nothing may reach past the
//! frame's width, and no text may be drawn smaller than 8 pixels.
//!
//! This test installs nothing. Without chromium it fails, saying how to install it.

use chrono::{TimeZone, Utc};
use embedded::EmbeddedStore;
use http_body_util::{BodyExt, Full};
use hyper::{
    body::{Bytes, Incoming},
    client::conn::http1 as client,
    server::conn::http1 as server,
    service::service_fn,
    Request, Response,
};
use hyper_util::rt::TokioIo;
use journey_local::{
    import::{import, mapping::Mapping},
    serve::{bind, serve_http},
    stack::{Stack, StackConfig},
};
use lifecycle::{
    sla::{
        BusinessCalendar, ClockKind, ClockStart, Escalation, LeadKind, SlaClock, SlaPolicy, Zone,
    },
    transition::Dimensions,
    LeadId, RepId, Stage, Timestamp,
};
use ports::{Commit, CommitOutcome, JourneyStore, ManualClock};
use serde_json::Value;
use std::{collections::HashMap, net::SocketAddr, path::Path, process::Command, sync::Arc};

const ADMIN: &str = r#"{"sub":"page-test","roles":"admin"}"#;
/// The sample's months: January to June 2025.
const PERIOD: &str = "from=2025-01-01&to=2025-07-01";

fn sample(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../infra/local/sample")
        .join(name)
}

/// A rep-response clock of `lead` started at `start`, due 15 minutes later, stopped `after`
/// minutes later, stored as the API's stop stores it.
async fn clock_outcome(store: &EmbeddedStore, lead: &str, start: Timestamp, after: i64) {
    let policy = SlaPolicy {
        id: "accept".into(),
        clock: ClockKind::RepResponse,
        stage: Stage::Mql,
        lead_kind: None,
        target_minutes: 15,
        escalation: Escalation::default(),
    };
    let calendar = BusinessCalendar::always_open(Zone::parse("UTC").unwrap());
    let begun = SlaClock::start(
        &policy,
        &calendar,
        ClockStart {
            lead: LeadId::new(lead),
            cycle: 1,
            lead_kind: LeadKind::Behavioural,
            owner: Some(RepId::new("rep-ana")),
            reassignments: 0,
            at: start,
            pool: Some("inbound".into()),
        },
    );
    let mut stopped = begun.clone();
    let at = start + chrono::Duration::minutes(after);
    stopped.stop(at);
    let writes =
        routing::docs::outcome_writes(Some(&begun), &stopped, &Dimensions::default(), at).unwrap();
    let commit = Commit {
        documents: writes,
        ..Commit::default()
    };
    assert_eq!(
        store.commit(commit).await.unwrap(),
        CommitOutcome::Committed
    );
}

/// The stack with the sample imported and three response clocks (two met) due in March.
async fn start() -> SocketAddr {
    let now = Utc.with_ymd_and_hms(2025, 9, 1, 12, 0, 0).unwrap();
    let clock = Arc::new(ManualClock::new(now));
    let store = EmbeddedStore::in_memory().unwrap();
    let mapping =
        Mapping::parse(&std::fs::read_to_string(sample("crm-export.toml")).unwrap()).unwrap();
    let csv = std::fs::File::open(sample("crm-export.csv")).unwrap();
    let summary = import(&store, csv, &mapping, clock.as_ref()).await.unwrap();
    assert_eq!(summary.created, 238);
    let march = |d| Utc.with_ymd_and_hms(2025, 3, d, 10, 0, 0).unwrap();
    for (lead, day, after) in [("CRM-1001", 3, 5), ("CRM-1002", 4, 10), ("CRM-1003", 5, 30)] {
        clock_outcome(&store, lead, march(day), after).await;
    }
    let config = StackConfig::local(&HashMap::new(), "test-secret").unwrap();
    let stack = Arc::new(Stack::new(store, clock, config));
    let listener = bind(0).await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve_http(stack, listener));
    addr
}

/// One GET to the stack as the admin: status and body.
async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let req = Request::get(path)
        .header("host", "127.0.0.1")
        .header("x-dev-user", ADMIN)
        .body(Full::new(Bytes::new()))
        .unwrap();
    let (status, _, body) = forward(addr, req).await;
    (status, String::from_utf8(body.to_vec()).unwrap())
}

async fn forward(addr: SocketAddr, req: Request<Full<Bytes>>) -> (u16, String, Bytes) {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) = client::handshake(TokioIo::new(stream)).await.unwrap();
    tokio::spawn(conn);
    let resp = sender.send_request(req).await.unwrap();
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get("content-type")
        .map_or(String::new(), |v| v.to_str().unwrap().to_owned());
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, content_type, body)
}

/// A proxy on 127.0.0.1 in front of the stack: it adds the identity header a browser cannot
/// send, and serves the phone harness page itself (same origin as the funnel page).
async fn proxy(stack: SocketAddr) -> SocketAddr {
    let listener = bind(0).await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let service = service_fn(move |req: Request<Incoming>| async move {
                if req.uri().path() == "/harness.html" {
                    let page = format!("/reports/funnel.html?{PERIOD}");
                    let html = HARNESS.replace("{PAGE}", &page);
                    return Ok::<_, std::convert::Infallible>(
                        Response::builder()
                            .header("content-type", "text/html; charset=utf-8")
                            .body(Full::new(Bytes::from(html)))
                            .unwrap(),
                    );
                }
                let path = req
                    .uri()
                    .path_and_query()
                    .map_or("/", |p| p.as_str())
                    .to_owned();
                let ahead = Request::get(path)
                    .header("host", "127.0.0.1")
                    .header("x-dev-user", ADMIN)
                    .body(Full::new(Bytes::new()))
                    .unwrap();
                let (status, content_type, body) = forward(stack, ahead).await;
                Ok(Response::builder()
                    .status(status)
                    .header("content-type", content_type)
                    .body(Full::new(body))
                    .unwrap())
            });
            tokio::spawn(server::Builder::new().serve_connection(TokioIo::new(stream), service));
        }
    });
    addr
}

/// Loads the page in a 390-pixel frame and writes what it measured into `#out`.
const HARNESS: &str = r#"<!DOCTYPE html><html><body style="margin:0">
<iframe id="f" src="{PAGE}" style="width:390px;height:2000px;border:0"></iframe>
<pre id="out">pending</pre>
<script>
document.getElementById('f').addEventListener('load', function () {
  var d = this.contentDocument, w = d.documentElement.clientWidth;
  var past = 0, smallest = 1000;
  d.querySelectorAll('body *').forEach(function (e) {
    var r = e.getBoundingClientRect();
    if (r.width > 0 && r.right > w + 0.5) { past += 1; }
  });
  d.querySelectorAll('text').forEach(function (t) {
    var h = t.getBoundingClientRect().height;
    if (h > 0 && h < smallest) { smallest = h; }
  });
  document.getElementById('out').textContent = JSON.stringify({
    viewport: w, scroll: d.documentElement.scrollWidth, past: past, smallest_text: smallest
  });
});
</script></body></html>"#;

fn chromium() -> &'static str {
    let found = Command::new("chromium").arg("--version").output();
    assert!(
        found.is_ok_and(|o| o.status.success()),
        "chromium is not installed: run infra/scripts/install-chromium.sh (Debian's chromium \
         package) before this test"
    );
    "chromium"
}

/// The DOM Chromium rendered for `url`, at `size` (`"w,h"`).
fn rendered(url: &str, size: &str, profile: &Path) -> String {
    let out = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--virtual-time-budget=10000",
        ])
        .arg(format!("--window-size={size}"))
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(["--dump-dom", url])
        .output()
        .expect("chromium runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The text of the element carrying `data-figure="name"` in a rendered DOM.
fn figure<'a>(dom: &'a str, name: &str) -> &'a str {
    let marker = format!("data-figure=\"{name}\"");
    let at = dom
        .find(&marker)
        .unwrap_or_else(|| panic!("{name} is not in the rendered page"));
    let rest = &dom[at..];
    let start = rest.find('>').unwrap() + 1;
    let end = rest.find('<').unwrap();
    &rest[start..end]
}

/// A share as the page should show it: a percentage with one decimal.
fn percent(rate: &Value) -> String {
    format!("{:.1}%", rate.as_f64().unwrap() * 100.0)
}

fn mql_to_sql(report: &Value) -> &Value {
    report["total"]["conversions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["from"] == "mql" && c["to"] == "sql")
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_renders_the_numbers_of_the_json_report_over_http_and_fits_a_phone() {
    let stack = start().await;
    let proxy = proxy(stack).await;
    let (status, text) = get(stack, &format!("/reports/funnel?{PERIOD}")).await;
    assert_eq!(status, 200, "{text}");
    let json: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        json["total"]["entered"]["mql"], 139,
        "the sample's MQLs (README)"
    );
    let profile = tempfile_dir();

    let dom = rendered(
        &format!("http://{proxy}/reports/funnel.html?{PERIOD}"),
        "1280,800",
        &profile.join("laptop"),
    );

    for stage in Stage::FUNNEL {
        let want = json["total"]["entered"][stage.as_str()]
            .as_u64()
            .unwrap_or(0);
        assert_eq!(
            figure(&dom, &format!("entered.{stage}")),
            want.to_string(),
            "{stage}"
        );
    }
    for month in 1..=6 {
        let label = format!("2025-{month:02}");
        let to = if month == 6 {
            "2025-07-01".to_owned()
        } else {
            format!("2025-{:02}-01", month + 1)
        };
        let (_, text) = get(stack, &format!("/reports/funnel?from={label}-01&to={to}")).await;
        let monthly: Value = serde_json::from_str(&text).unwrap();
        let rate = &mql_to_sql(&monthly)["rate"];
        let want = if rate.is_null() {
            "–".to_owned()
        } else {
            percent(rate)
        };
        assert_eq!(figure(&dom, &format!("trend.{label}")), want, "{label}");
    }
    let response = &json["total"]["sla"]["response"];
    assert_eq!(
        (response["due"].as_u64(), response["met"].as_u64()),
        (Some(3), Some(2))
    );
    assert_eq!(
        figure(&dom, "sla.response"),
        format!(
            "{} ({}/{})",
            percent(&response["rate"]),
            response["met"],
            response["due"]
        )
    );

    let phone = rendered(
        &format!("http://{proxy}/harness.html"),
        "390,844",
        &profile.join("phone"),
    );
    let at = phone
        .find("<pre id=\"out\">")
        .expect("the harness rendered")
        + 14;
    let measured: Value = serde_json::from_str(&phone[at..at + phone[at..].find('<').unwrap()])
        .unwrap_or_else(|_| panic!("the harness did not measure: {phone}"));
    assert_eq!(measured["viewport"], 390, "{measured}");
    assert_eq!(
        measured["scroll"], 390,
        "no horizontal overflow: {measured}"
    );
    assert_eq!(
        measured["past"], 0,
        "nothing reaches past the frame: {measured}"
    );
    assert!(
        measured["smallest_text"].as_f64().unwrap() >= 8.0,
        "legible: {measured}"
    );
}

/// A fresh directory for Chromium's profiles.
fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("journey-page-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
