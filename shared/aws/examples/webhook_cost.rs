//! Request-cost benchmark: how many DynamoDB round trips a webhook's storage path takes, and
//! how many write units its transaction costs, against the emulator.
//!
//! ```text
//! infra/scripts/moto.sh -- cargo run -p journey-aws --example webhook_cost
//! ```
//!
//! The path is the one the form-webhook's intake follows: read the delivery's claim and find
//! the lead by e-mail, together; answer a held claim as a duplicate; otherwise apply one commit
//! (claim, lead, identity, transition, six counters, activity, one outbox message). Requests
//! and round trips are counted by an SDK interceptor on the DynamoDB client, so retries would
//! show; write units are computed from the item sizes DynamoDB bills (moto's consumed-capacity
//! figures are not real, so they are not used).

use aws_adapters::{
    metrics::RequestCounter, plan, sdk_config, setup, transactional_write_units, DynamoStore,
    SqsQueue, ENDPOINT_ENV,
};
use lifecycle::{
    funnel::counter_deltas, Activity, ActivityKind, Actor, CauseId, Email, Lead, LeadId, Stage,
    Transition,
};
use ports::{
    commit::Identity, Commit, CommitOutcome, Expect, JourneyStore, LeadWrite, Message, Topic,
};
use std::{collections::BTreeMap, sync::Arc};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let endpoint = std::env::var(ENDPOINT_ENV)
        .map_err(|_| format!("{ENDPOINT_ENV} is not set; run under infra/scripts/moto.sh --"))?;
    let config = sdk_config(Some(&endpoint)).await?;
    let counter = RequestCounter::new();
    let dynamodb = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&config)
            .interceptor(counter.clone())
            .build(),
    );
    let sqs = aws_sdk_sqs::Client::new(&config);
    let table = format!("bench-{}", std::process::id());
    setup::create_table(&dynamodb, &table).await?;
    let topics = setup::create_queues(&sqs, &table, 5).await?;
    let store = DynamoStore::new(dynamodb, &table, Arc::new(SqsQueue::new(sqs, topics)));
    counter.take_all();

    let email = Email::parse("bench@example.com")?;
    let first = webhook(&store, &email, "webhook:typeform:e1").await?;
    report("new delivery, new lead", counter.take_all(), &first.0);
    let second = webhook(&store, &email, "webhook:typeform:e2").await?;
    report("new delivery, known lead", counter.take_all(), &second.0);
    let dup = webhook(&store, &email, "webhook:typeform:e2").await?;
    report("duplicate delivery", counter.take_all(), &dup.0);
    assert!(matches!(dup.0, CommitOutcome::Duplicate { .. }));

    write_units("new lead", &first.1);
    write_units("known lead", &second.1);
    Ok(())
}

/// Prints the write units of one commit: transactional writes cost 2 units per started KB per
/// item; each global index that holds a copy of a written item costs 1 unit per started KB more
/// (all indexes project every attribute: the lead is in `by_email` and `by_created`, a
/// transition in `by_day`).
fn write_units(what: &str, items: &[(&'static str, usize)]) {
    println!("\nwrite units of the {what} commit:");
    let (mut table, mut indexes) = (0, 0);
    for (kind, size) in items {
        let units = transactional_write_units(*size);
        let copies = match *kind {
            "lead" => 2,
            "transition" => 1,
            _ => 0,
        };
        let index_units = copies * size.div_ceil(1024);
        table += units;
        indexes += index_units;
        println!("  {kind:<18} {size:>5} B  {units} WCU  + {index_units} WCU in indexes");
    }
    println!(
        "  total: {table} WCU on the table + {indexes} WCU in indexes = {}",
        table + indexes
    );
}

/// The webhook's storage path. Returns the outcome and the item sizes of its transaction.
async fn webhook(
    store: &DynamoStore,
    email: &Email,
    claim: &str,
) -> Result<(CommitOutcome, Vec<(&'static str, usize)>), Box<dyn std::error::Error>> {
    let now = chrono::Utc::now();
    let (held, found) = tokio::join!(store.held_claim(claim), store.lead_by_email(email));
    if let Some(outbox) = held? {
        return Ok((
            CommitOutcome::Duplicate {
                key: claim.to_owned(),
                outbox,
            },
            Vec::new(),
        ));
    }
    let commit = match found? {
        Some(lead) => activity_commit(lead, claim, now),
        None => new_lead_commit(email, claim, now),
    };
    let sizes = plan(store.table(), &commit, now)?.written().collect();
    Ok((store.commit(commit).await?, sizes))
}

fn new_lead_commit(email: &Email, claim: &str, now: lifecycle::Timestamp) -> Commit {
    let mut lead = Lead::new(
        LeadId::new(format!("01J{:0>23}", now.timestamp_micros())),
        now,
    );
    lead.email = Some(email.clone());
    lead.profile.name = Some("Dana Whitfield".into());
    lead.profile.company = Some("Quillfield Analytics".into());
    lead.profile.title = Some("Head of Revenue Operations".into());
    lead.profile.country = Some("US".into());
    lead.profile.company_size = Some("201-500".into());
    lead.attribution.source = Some("google".into());
    lead.attribution.campaign = Some("q2-webinar".into());
    lead.attribution.form = Some("demo-request".into());
    lead.version = 1;
    let transition = Transition {
        lead_id: lead.id.clone(),
        seq: 1,
        cycle: 1,
        from: None,
        to: Stage::New,
        effective_at: now,
        recorded_at: now,
        actor: Actor::Rule {
            id: "intake".into(),
            version: 1,
        },
        reason: None,
        cause: CauseId::new(claim),
        skipped: vec![],
        late: false,
        dims: lead.dimensions(),
    };
    lead.journey.push(&transition);

    let mut commit = Commit::claiming(claim, Some(now + chrono::Duration::days(3)));
    commit.counters = counter_deltas(&transition);
    commit.transitions = vec![transition];
    commit.activities = vec![activity(&lead.id, claim, now)];
    commit.outbox = vec![outbox(&lead.id, claim)];
    commit.lead = Some(LeadWrite {
        new_identities: vec![Identity::Email(email.clone())],
        lead,
        expect: Expect::Absent,
    });
    commit
}

fn activity_commit(mut lead: Lead, claim: &str, now: lifecycle::Timestamp) -> Commit {
    let read = lead.version;
    lead.version += 1;
    lead.updated_at = now;
    let mut commit = Commit::claiming(claim, Some(now + chrono::Duration::days(3)));
    commit.activities = vec![activity(&lead.id, claim, now)];
    commit.outbox = vec![outbox(&lead.id, claim)];
    commit.lead = Some(LeadWrite {
        lead,
        expect: Expect::Version(read),
        new_identities: vec![],
    });
    commit
}

fn activity(lead: &LeadId, claim: &str, now: lifecycle::Timestamp) -> Activity {
    Activity {
        id: claim.to_owned(),
        lead_id: lead.clone(),
        kind: ActivityKind::FormSubmitted,
        occurred_at: now,
        hand_raiser: true,
        attributes: BTreeMap::from([("form".to_owned(), "demo-request".to_owned())]),
    }
}

fn outbox(lead: &LeadId, claim: &str) -> Message {
    Message {
        topic: Topic::Activities,
        id: format!("{claim}:activity"),
        body: format!(r#"{{"lead_id":"{lead}","activity_id":"{claim}"}}"#),
        delay_seconds: 0,
    }
}

fn report(
    what: &str,
    (requests, round_trips): (BTreeMap<String, usize>, usize),
    outcome: &CommitOutcome,
) {
    let total: usize = requests.values().sum();
    let kind = match outcome {
        CommitOutcome::Committed => "committed",
        CommitOutcome::Duplicate { .. } => "duplicate",
        CommitOutcome::Conflict { .. } => "conflict",
    };
    println!(
        "{what:<26} {round_trips} DynamoDB round trips, {total} requests {requests:?} -> {kind}"
    );
}
