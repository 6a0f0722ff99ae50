//! Request-cost benchmark: how many DynamoDB round trips a webhook's storage path takes, and
//! how many write units its transaction costs, against the emulator.
//!
//! ```text
//! infra/scripts/moto.sh -- cargo run -p journey-aws --example webhook_cost
//! ```
//!
//! The path is the one the form-webhook follows: find the lead by e-mail, then apply one
//! commit (claim, lead, identity, transition, six counters, activity, one outbox message).
//! Round trips are counted by an SDK interceptor on the DynamoDB client, so retries would show;
//! write units are computed from the item sizes DynamoDB bills (moto's consumed-capacity
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
    let config = sdk_config(Some(&endpoint)).await;
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
    counter.take();

    let email = Email::parse("bench@example.com")?;
    let first = webhook(&store, &email, "webhook:typeform:e1").await?;
    report("new delivery, new lead", &counter.take(), &first.0);
    let second = webhook(&store, &email, "webhook:typeform:e2").await?;
    report("new delivery, known lead", &counter.take(), &second.0);
    let dup = webhook(&store, &email, "webhook:typeform:e2").await?;
    report("duplicate delivery", &counter.take(), &dup.0);
    assert!(matches!(dup.0, CommitOutcome::Duplicate { .. }));

    println!("\nwrite units of the new-lead commit (transactional: 2 per started KB per item):");
    let mut total = 0;
    for (kind, size) in first.1 {
        let units = transactional_write_units(size);
        total += units;
        println!("  {kind:<18} {size:>5} B  {units} WCU");
    }
    println!("  {:<18} {:>7}  {total} WCU (base table; each index copy of the lead item adds 1 WCU per KB)", "total", "");
    Ok(())
}

/// The webhook's storage path. Returns the outcome and the item sizes of its transaction.
async fn webhook(
    store: &DynamoStore,
    email: &Email,
    claim: &str,
) -> Result<(CommitOutcome, Vec<(&'static str, usize)>), Box<dyn std::error::Error>> {
    let now = chrono::Utc::now();
    let found = store.lead_by_email(email).await?;
    let commit = match found {
        Some(lead) => activity_commit(lead, claim, now),
        None => new_lead_commit(email, claim, now),
    };
    let sizes = plan(store.table(), &commit)?.written().collect();
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

fn report(what: &str, requests: &BTreeMap<String, usize>, outcome: &CommitOutcome) {
    let total: usize = requests.values().sum();
    let kind = match outcome {
        CommitOutcome::Committed => "committed",
        CommitOutcome::Duplicate { .. } => "duplicate",
        CommitOutcome::Conflict { .. } => "conflict",
    };
    println!("{what:<26} {total} DynamoDB round trips {requests:?} -> {kind}");
}
