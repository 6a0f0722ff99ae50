//! Test support: a fresh table and fresh queues on the emulator for each test.
//!
//! Tests that need the emulator are `#[ignore]`d so that a plain `cargo test` does not fail on
//! a machine without it; `infra/scripts/test-aws.sh` starts moto and runs them with
//! `--include-ignored`. Run that way, or with `JOURNEY_AWS_ENDPOINT` pointing at a server that
//! is down, they fail loudly: they never pass without having talked to an emulator.

#![allow(dead_code, unreachable_pub)]

use aws_adapters::{metrics::RequestCounter, setup, Clients, DynamoStore, SqsQueue, ENDPOINT_ENV};
use lifecycle::{
    funnel::counter_deltas, Actor, CauseId, Email, Lead, LeadId, Stage, Timestamp, Transition,
};
use ports::{commit::Identity, Commit, Expect, LeadWrite, Message, Topic};
use std::sync::{
    atomic::{AtomicU32, Ordering},
    Arc,
};

/// Receives before a message moves to its dead-letter queue, in test queues.
pub const MAX_RECEIVES: u32 = 2;

/// The test queues' back-off after a failed receive: 1 s, then 2 s (short, since SQS waits in
/// real time).
pub const FIRST_BACKOFF_SECONDS: u32 = 1;
/// The longest back-off of the test queues.
pub const MAX_BACKOFF_SECONDS: u32 = 2;

/// A store and queues of their own.
pub struct Env {
    pub store: DynamoStore,
    pub queue: SqsQueue,
    pub clients: Clients,
    pub table: String,
    pub dynamodb_requests: RequestCounter,
}

/// The emulator's endpoint, or a panic that says how to get one.
pub fn endpoint() -> String {
    match std::env::var(ENDPOINT_ENV) {
        Ok(url) if !url.is_empty() => url,
        _ => panic!(
            "{ENDPOINT_ENV} is not set. These tests need the moto emulator: run \
             `infra/scripts/test-aws.sh` (it installs and starts moto), or start it with \
             `infra/scripts/moto.sh` and export the endpoint it prints."
        ),
    }
}

/// A unique name for this process and test.
fn unique(prefix: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

impl Env {
    /// A new table and queue set on the emulator.
    pub async fn new() -> Self {
        let url = endpoint();
        let config = aws_adapters::sdk_config(Some(&url))
            .await
            .expect("the system\'s root certificates");
        let counter = RequestCounter::new();
        let dynamodb = aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(&config)
                .interceptor(counter.clone())
                .build(),
        );
        let clients = Clients {
            dynamodb,
            sqs: aws_sdk_sqs::Client::new(&config),
        };

        let table = unique("journey");
        setup::create_table(&clients.dynamodb, &table)
            .await
            .unwrap_or_else(|e| panic!("emulator at {url} did not create a table: {e:?}"));
        let topics = setup::create_queues(&clients.sqs, &unique("q"), MAX_RECEIVES)
            .await
            .unwrap_or_else(|e| panic!("emulator at {url} did not create queues: {e:?}"));

        let queue = SqsQueue::new(clients.sqs.clone(), topics)
            .with_wait_seconds(0)
            .with_backoff(FIRST_BACKOFF_SECONDS, MAX_BACKOFF_SECONDS);
        let store = DynamoStore::new(clients.dynamodb.clone(), &table, Arc::new(queue.clone()));
        counter.take();
        Self {
            store,
            queue,
            clients,
            table,
            dynamodb_requests: counter,
        }
    }

    /// DynamoDB requests since the last call.
    pub fn requests(&self) -> usize {
        self.dynamodb_requests.take().values().sum()
    }
}

pub fn at(rfc3339: &str) -> Timestamp {
    rfc3339.parse().expect("test timestamp")
}

/// A new lead with an e-mail, entering at `New`: the commit a first webhook makes.
pub fn new_lead_commit(id: &str, email: &str, claim: &str, when: Timestamp) -> Commit {
    let mut lead = Lead::new(LeadId::new(id), when);
    lead.email = Some(Email::parse(email).expect("test e-mail"));
    lead.attribution.source = Some("webinar".into());
    lead.version = 1;
    let transition = Transition {
        lead_id: lead.id.clone(),
        seq: 1,
        cycle: 1,
        from: None,
        to: Stage::New,
        effective_at: when,
        recorded_at: when,
        actor: Actor::System {
            component: "test".into(),
        },
        reason: None,
        cause: CauseId::new(claim),
        skipped: Vec::new(),
        late: false,
        dims: lead.dimensions(),
    };
    lead.journey.push(&transition);

    let mut commit = Commit::claiming(claim, None);
    commit.counters = counter_deltas(&transition);
    commit.transitions = vec![transition];
    commit.lead = Some(LeadWrite {
        new_identities: vec![Identity::Email(lead.email.clone().expect("set above"))],
        lead,
        expect: Expect::Absent,
    });
    commit.outbox = vec![Message {
        topic: Topic::Activities,
        id: format!("{claim}:activity"),
        body: format!(r#"{{"lead_id":"{id}"}}"#),
        delay_seconds: 0,
    }];
    commit
}
