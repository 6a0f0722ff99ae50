//! Commits per second on a database file, for a typical webhook commit: a new lead with its
//! e-mail identity, one transition, its six funnel counters, an idempotency claim and one
//! outbox message.
//!
//! ```text
//! cargo run --profile bench -p journey-embedded --example bench_commit [COMMITS] [--durable]
//! ```
//!
//! `--durable` opens the file with `synchronous = FULL` (an fsync per commit) instead of the
//! default `NORMAL`. The file goes to the system's temporary directory and is removed after.

use embedded::EmbeddedStore;
use lifecycle::{funnel::counter_deltas, Actor, CauseId, Email, Lead, LeadId, Stage, Transition};
use ports::{commit::Identity, Claim, Commit, Expect, JourneyStore, LeadWrite, Message, Topic};
use std::time::Instant;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let durable = args.iter().any(|a| a == "--durable");
    let commits: usize = match args.iter().find(|a| !a.starts_with("--")) {
        Some(n) => n.parse()?,
        None => 5_000,
    };

    let dir = std::env::temp_dir().join(format!("bench-commit-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("journey.db");
    let store = if durable {
        EmbeddedStore::open_durable(&path)?
    } else {
        EmbeddedStore::open(&path)?
    };

    let started = Instant::now();
    for n in 0..commits {
        store.commit(webhook_commit(n)?).await?;
    }
    let elapsed = started.elapsed();

    let mode = if durable { "FULL" } else { "NORMAL" };
    println!(
        "{commits} webhook commits (lead + transition + 6 counters + claim + 1 outbox) \
         on a WAL file, synchronous={mode}: {:.2} s, {:.0} commits/s",
        elapsed.as_secs_f64(),
        commits as f64 / elapsed.as_secs_f64()
    );
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

/// The `n`-th lead's first webhook.
fn webhook_commit(n: usize) -> Result<Commit, Box<dyn std::error::Error>> {
    let at = chrono::DateTime::from_timestamp(1_893_456_000 + n as i64, 0).ok_or("time")?;
    let id = LeadId::new(format!("lead-{n:08}"));
    let email = Email::parse(&format!("person{n}@company{}.example.com", n % 97))?;
    let mut lead = Lead::new(id.clone(), at);
    lead.email = Some(email.clone());
    lead.attribution.source = Some("google".into());
    lead.attribution.campaign = Some(format!("campaign-{}", n % 12));
    lead.version = 1;

    let transition = Transition {
        lead_id: id.clone(),
        seq: 1,
        cycle: 1,
        from: None,
        to: Stage::New,
        effective_at: at,
        recorded_at: at,
        actor: Actor::System {
            component: "form-webhook".into(),
        },
        reason: None,
        cause: CauseId::new(format!("webhook:typeform:evt-{n}")),
        skipped: Vec::new(),
        late: false,
        dims: lead.dimensions(),
    };

    Ok(Commit {
        claims: vec![Claim {
            key: format!("webhook:typeform:evt-{n}"),
            expires_at: Some(at + chrono::Duration::days(3)),
        }],
        counters: counter_deltas(&transition),
        transitions: vec![transition],
        outbox: vec![Message {
            topic: Topic::Activities,
            id: format!("act-{n}"),
            body: format!("{{\"lead_id\":\"{id}\",\"activity_id\":\"act-{n}\"}}"),
            delay_seconds: 0,
        }],
        lead: Some(LeadWrite {
            lead,
            expect: Expect::Absent,
            new_identities: vec![Identity::Email(email)],
        }),
        ..Commit::default()
    })
}
