//! What one sweep of N due clocks costs on DynamoDB and SQS, against the emulator: requests
//! by operation (counted by an SDK interceptor on both clients, so retries would show) and
//! wall time, once with one clock at a time and once with the default concurrency.
//!
//! ```text
//! infra/scripts/moto.sh -- cargo run --profile bench -p sla-timers --example sweep_cost [N=100]
//! ```
//!
//! Each run gets a fresh table and queues. N hand-raiser MQLs are routed (by the routing
//! function, on the same store) to two reps at 08:00Z; the sweep then runs at 08:16Z, past
//! every clock's due time, so each clock takes the two breach steps of the ladder: tell the
//! manager, then reassign. moto handles DynamoDB requests one at a time (see
//! `infra/scripts/moto_server.py`), so its seconds show the request count, not what
//! concurrency buys on DynamoDB; the README turns the counts into a bound for the Lambda.

use aws_adapters::{metrics::RequestCounter, sdk_config, setup, DynamoStore, SqsQueue};
use chrono::{DateTime, Duration};
use lifecycle::{
    routing::{Pool, PoolMember, RepAvailability, RouteRequest, RoutingConfig},
    sla::{BusinessCalendar, ClockKind, Escalation, LeadKind, SlaPolicies, SlaPolicy, Zone},
    transition::Actor,
    CauseId, Email, JourneyState, Lead, LeadId, RepId, Stage, StageEvent, StageOutcome, Timestamp,
};
use ports::{Commit, Expect, JourneyStore, LeadWrite};
use routing::{docs, Router};
use serde::Serialize;
use sla_timers::{SweepLimits, Sweeper};
use std::{collections::BTreeMap, sync::Arc, time::Instant};

type Error = Box<dyn std::error::Error>;

#[tokio::main]
async fn main() -> Result<(), Error> {
    // Warnings (a clock left for the next sweep, and why) on stderr; `RUST_LOG` for more.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100);
    let endpoint = std::env::var(aws_adapters::ENDPOINT_ENV)
        .map_err(|_| "JOURNEY_AWS_ENDPOINT is not set; run under infra/scripts/moto.sh --")?;
    for concurrency in [1, SweepLimits::default().concurrency] {
        run(&endpoint, n, concurrency).await?;
    }
    Ok(())
}

/// One sweep of `n` due clocks, `concurrency` at a time, on a table of its own.
async fn run(endpoint: &str, n: usize, concurrency: usize) -> Result<(), Error> {
    let config = sdk_config(Some(endpoint)).await?;
    let counter = RequestCounter::new();
    let dynamodb = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&config)
            .interceptor(counter.clone())
            .build(),
    );
    let sqs = aws_sdk_sqs::Client::from_conf(
        aws_sdk_sqs::config::Builder::from(&config)
            .interceptor(counter.clone())
            .build(),
    );
    let name = format!("sweep-{}-{concurrency}", std::process::id());
    setup::create_table(&dynamodb, &name).await?;
    let topics = setup::create_queues(&sqs, &name, 5).await?;
    let queue = Arc::new(SqsQueue::new(sqs, topics));
    let store = Arc::new(DynamoStore::new(dynamodb, &name, queue.clone()));

    configure(store.as_ref()).await?;
    let router = Router::new(store.clone(), store.clone(), queue.clone());
    let at = t("2025-06-16T08:00:00Z");
    for i in 0..n {
        route(store.as_ref(), &router, &format!("lead-{i:05}"), at).await?;
    }
    counter.take();

    let limits = SweepLimits {
        concurrency,
        ..SweepLimits::default()
    };
    let sweeper = Sweeper::new(store.clone(), store, queue).with_limits(limits);
    let started = Instant::now();
    let report = sweeper.sweep(at + Duration::minutes(16)).await?;
    let seconds = started.elapsed().as_secs_f64();
    print(n, concurrency, &report, &counter.take(), seconds);
    if report.failed > 0 {
        // What a sweep left is the next one's, a minute later.
        let next = sweeper.sweep(at + Duration::minutes(17)).await?;
        println!(
            "  the next sweep: {} clocks, {} steps, {} found done, {} failed",
            next.clocks, next.steps, next.duplicates, next.failed
        );
    }
    Ok(())
}

fn print(
    n: usize,
    concurrency: usize,
    report: &sla_timers::SweepReport,
    requests: &BTreeMap<String, usize>,
    seconds: f64,
) {
    let total: usize = requests.values().sum();
    println!(
        "{n} due clocks, {concurrency} at a time: {} clocks, {} steps, {} found done, {} failed; \
         {total} requests ({:.2} per clock) {requests:?}; {seconds:.2} s ({:.0} clocks/s)",
        report.clocks,
        report.steps,
        report.duplicates,
        report.failed,
        total as f64 / n.max(1) as f64,
        n as f64 / seconds,
    );
}

fn t(s: &str) -> Timestamp {
    DateTime::parse_from_rfc3339(s)
        .expect("an RFC 3339 instant")
        .to_utc()
}

/// Two reps in one pool, open around the clock; a hand raiser is accepted within 15 minutes
/// (reminder at half time, then the manager told and the lead reassigned once).
async fn configure(store: &DynamoStore) -> Result<(), Error> {
    let reps = ["rep-a", "rep-b"];
    let pool = Pool {
        id: "inbound".into(),
        strategy: Default::default(),
        members: reps.iter().map(|r| PoolMember::new(*r)).collect(),
        account_match: false,
        returning: Default::default(),
        overflow_queue: "inbound_overflow".into(),
        manager: Some(RepId::new("boss")),
        notify: None,
    };
    let routing = RoutingConfig {
        pools: vec![pool],
        rules: vec![],
        default_pool: "inbound".into(),
    };
    let accept = SlaPolicy {
        id: "hand_raiser_accept".into(),
        clock: ClockKind::RepResponse,
        stage: Stage::Mql,
        lead_kind: Some(LeadKind::HandRaiser),
        target_minutes: 15,
        escalation: Escalation {
            remind_at_percent: Some(50),
            reassign: true,
            max_reassignments: 1,
            notify_manager: true,
        },
    };
    let calendar = BusinessCalendar::always_open(Zone::parse("UTC")?);
    put(store, docs::CONFIG, docs::ROUTING_CONFIG, &routing).await?;
    let policies = SlaPolicies {
        policies: vec![accept],
    };
    put(store, docs::CONFIG, docs::SLA_POLICIES, &policies).await?;
    put(store, docs::CALENDAR, docs::DEFAULT_CALENDAR, &calendar).await?;
    for rep in reps {
        put(store, docs::REP, rep, &RepAvailability::active(rep)).await?;
    }
    Ok(())
}

async fn put<T: Serialize>(
    store: &DynamoStore,
    collection: &str,
    key: &str,
    value: &T,
) -> Result<(), Error> {
    let mut commit = Commit::default();
    commit
        .documents
        .push(docs::put(collection, key, value, 0, None)?);
    store.commit(commit).await?;
    Ok(())
}

/// Stores a hand raiser that became an MQL at `at` and routes it.
async fn route(store: &DynamoStore, router: &Router, id: &str, at: Timestamp) -> Result<(), Error> {
    let mut lead = Lead::new(LeadId::new(id), at);
    lead.email = Some(Email::parse(&format!("{id}@bench.example"))?);
    let mut journey = JourneyState::default();
    let mut transitions = Vec::new();
    for to in [Stage::New, Stage::Mql] {
        let event = StageEvent {
            to,
            cause: CauseId::new(format!("bench:{id}:{to}")),
            actor: Actor::System {
                component: "bench".into(),
            },
            reason: None,
            effective_at: at,
            recorded_at: at,
            dims: Default::default(),
        };
        if let StageOutcome::Applied(tr) = journey.apply(&lead.id, &event)? {
            transitions.push(tr);
        }
    }
    lead.journey = journey;
    lead.version = 1;
    let write = LeadWrite {
        lead,
        expect: Expect::Absent,
        new_identities: vec![],
    };
    let commit = Commit {
        lead: Some(write),
        transitions,
        ..Commit::default()
    };
    store.commit(commit).await?;
    let request = RouteRequest {
        lead: LeadId::new(id),
        cycle: 1,
        lead_kind: LeadKind::HandRaiser,
        requested_at: at,
        reassignment: None,
    };
    router.route(&request, at).await?;
    Ok(())
}
