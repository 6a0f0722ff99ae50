//! The report path on the DynamoDB adapter (moto), counting the requests it sends.
//!
//! Regression: `GET /reports/funnel` and the plan read `transitions_recorded` from 1970 to
//! `as_of`, one Query per UTC day: 20,513 Queries and 289 s on an empty table, where the API
//! Lambda has 10 s. The report now walks only the days the stored transitions span (the
//! store's extent, three one-item Queries) and reads stored snapshots where they cover the
//! period; the number of requests is bounded by the data, not by the calendar.
//!
//! Ignored by default (they need moto): `infra/scripts/moto.sh -- cargo test -p funnel-rollup
//! --test dynamodb -- --include-ignored`, which `infra/test` does for every test.

use aws_adapters::{metrics::RequestCounter, setup, DynamoStore, ENDPOINT_ENV};
use chrono::{TimeZone, Utc};
use embedded::EmbeddedStore;
use funnel_rollup::query::{self, Prefer, Request, Source};
use lifecycle::{
    funnel::{Dimension, Period},
    transition::{Actor, Dimensions},
    CauseId, JourneyState, LeadId, Stage, StageEvent, StageOutcome, Timestamp, Transition,
};
use ports::{Commit, CommitOutcome, JourneyStore};
use std::sync::Arc;

/// A store on a fresh table of the emulator, with its request counter.
async fn store() -> (DynamoStore, RequestCounter) {
    let url = std::env::var(ENDPOINT_ENV).unwrap_or_else(|_| {
        panic!("{ENDPOINT_ENV} is not set: run under infra/scripts/moto.sh (see the module docs)")
    });
    let config = aws_adapters::sdk_config(Some(&url))
        .await
        .expect("the system\'s root certificates");
    let counter = RequestCounter::new();
    let client = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&config)
            .interceptor(counter.clone())
            .build(),
    );
    // Regression: named by the process and the microsecond, two tests of this binary that set
    // up in the same microsecond asked for the same table ("Table already exists").
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let table = format!(
        "funnel-{}-{}-{}",
        std::process::id(),
        Utc::now().timestamp_micros(),
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    setup::create_table(&client, &table).await.unwrap();
    // The commits here send no messages; the outbox is never used.
    let outbox = Arc::new(EmbeddedStore::in_memory().unwrap());
    counter.take();
    (DynamoStore::new(client, table, outbox), counter)
}

fn requests(counter: &RequestCounter) -> usize {
    counter.take().values().sum()
}

fn at(d: u32, h: u32) -> Timestamp {
    Utc.with_ymd_and_hms(2030, 1, d, h, 0, 0).unwrap()
}

/// A lead entering New and then MQL on day `d`, recorded as it happened.
fn lead(id: &str, d: u32) -> Vec<Transition> {
    let mut state = JourneyState::default();
    let mut out = Vec::new();
    for (i, stage) in [Stage::New, Stage::Mql].into_iter().enumerate() {
        let event = StageEvent {
            to: stage,
            cause: CauseId::new(format!("{id}-{i}")),
            actor: Actor::Import { batch: "t".into() },
            reason: None,
            effective_at: at(d, 9 + i as u32),
            recorded_at: at(d, 9 + i as u32),
            dims: Dimensions::default(),
        };
        if let Ok(StageOutcome::Applied(t)) = state.apply(&LeadId::new(id), &event) {
            out.push(t);
        }
    }
    out
}

/// All of time, as a caller may ask (the API's `from=1970-01-01`).
fn everything() -> Request {
    Request {
        period: Period {
            from: Utc.with_ymd_and_hms(1970, 1, 1, 0, 0, 0).unwrap(),
            to: Utc.with_ymd_and_hms(2100, 1, 1, 0, 0, 0).unwrap(),
        },
        group_by: Dimension::Source,
        as_of: None,
        prefer: Prefer::Auto,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs moto: run under infra/scripts/moto.sh"]
async fn a_report_over_all_time_on_an_empty_table_takes_a_handful_of_requests() {
    let (store, counter) = store().await;

    let answer = query::funnel(&store, &store, &everything(), at(10, 0))
        .await
        .unwrap();

    let sent = requests(&counter);
    assert!(answer.report.total.entered.is_empty());
    assert!(sent <= 5, "{sent} requests (the rollup state, the extent)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs moto: run under infra/scripts/moto.sh"]
async fn reports_read_only_the_days_with_data_and_then_the_snapshots() {
    let (store, counter) = store().await;
    for (id, day) in [("a", 2), ("b", 2), ("c", 4)] {
        let commit = Commit {
            transitions: lead(id, day),
            ..Commit::default()
        };
        assert_eq!(
            store.commit(commit).await.unwrap(),
            CommitOutcome::Committed
        );
    }
    requests(&counter);

    // From the transitions: the rollup state, the extent (three), the extent's three days (2
    // to 4 January), three histories, and the first stored clock outcome (none).
    let live = query::funnel(&store, &store, &everything(), at(10, 0))
        .await
        .unwrap();
    let live_requests = requests(&counter);
    // The first nightly run reads from the first recorded day, not from 1970.
    let summary = funnel_rollup::run(&store, &store, at(6, 2)).await.unwrap();
    let rollup_requests = requests(&counter);
    // January's first five days are closed and stored: read from the snapshots.
    let closed = Request {
        period: Period {
            from: at(1, 0),
            to: at(6, 0),
        },
        ..everything()
    };
    let stored = query::funnel(&store, &store, &closed, at(10, 0))
        .await
        .unwrap();
    let stored_requests = requests(&counter);

    assert_eq!(live.source, Source::Transitions);
    assert_eq!(live.report.total.entered[&Stage::Mql], 3);
    assert!(
        live_requests <= 12,
        "{live_requests} requests for a live report"
    );
    assert_eq!(summary.days, 2);
    assert!(
        rollup_requests <= 120,
        "{rollup_requests} requests for the first rollup"
    );
    assert_eq!(stored.source, Source::Snapshots);
    assert_eq!(stored.report.total.entered[&Stage::Mql], 3);
    assert!(
        stored_requests <= 6,
        "{stored_requests} requests from the snapshots"
    );
    assert!(store.extent().await.unwrap().is_some());
}
