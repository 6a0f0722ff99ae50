//! The port conformance suite: what every adapter must do, written once against the traits.
//!
//! Each case is a public async function taking a [`Subject`] (one adapter seen through every
//! port, plus a way to move its time) and panicking with a message that names the case when
//! the adapter misbehaves. [`run_all`] runs every case in turn. The embedded store runs the
//! suite in memory and on a file; the AWS adapter runs exactly the same cases against the
//! emulator (or real AWS), so a function cannot tell which store it runs on.
//!
//! Cases may share one store: every lead, e-mail, document collection and claim they write is
//! prefixed with [`Subject::namespace`], listings are checked only for the namespace's items,
//! and queue cases first drain the topic they use. Times on leads and transitions are fixed
//! (from 2030-01-01 on) and independent of the adapter's clock; only queue visibility, delays
//! and expiry follow the adapter's clock, moved through [`TimeControl`].

use crate::{
    commit::Identity, Claim, Commit, CommitOutcome, Delivery, Document, DocumentStore,
    DocumentWrite, Expect, IdentityRelease, JourneyStore, LeadWrite, ManualClock, Message, Queue,
    QueueConsumer, StoreError, Topic,
};
use async_trait::async_trait;
use chrono::Duration;
use lifecycle::{
    funnel::{CounterDelta, CounterKey, Dimension},
    Activity, ActivityKind, Actor, CauseId, Email, Lead, LeadId, Phone, RepId, Stage, Timestamp,
    Transition,
};
use std::{collections::BTreeSet, sync::Arc};

/// Moves the adapter's notion of "now" forward.
#[async_trait]
pub trait TimeControl: Send + Sync {
    /// Lets `by` pass for the adapter.
    async fn advance(&self, by: Duration);
}

/// A simulated clock simply jumps.
#[async_trait]
impl TimeControl for ManualClock {
    async fn advance(&self, by: Duration) {
        ManualClock::advance(self, by);
    }
}

/// Real time (an adapter on the system clock, such as SQS): waiting is the only way.
#[derive(Debug, Clone, Copy, Default)]
pub struct RealTime;

#[async_trait]
impl TimeControl for RealTime {
    async fn advance(&self, by: Duration) {
        tokio::time::sleep(by.to_std().unwrap_or_default()).await;
    }
}

/// The adapter under test.
#[derive(Clone)]
pub struct Subject {
    /// The adapter as a journey store.
    pub journey: Arc<dyn JourneyStore>,
    /// The adapter as a document store.
    pub documents: Arc<dyn DocumentStore>,
    /// The adapter's sending side.
    pub queue: Arc<dyn Queue>,
    /// The adapter's receiving side.
    pub consumer: Arc<dyn QueueConsumer>,
    /// How to let time pass for the adapter.
    pub time: Arc<dyn TimeControl>,
    /// Prefix of everything the cases write (letters, digits and `-`), unique per run when
    /// the store is shared between runs.
    pub namespace: String,
    /// The adapter's `max_receives`: a message failed this many times is dead-lettered.
    pub max_receives: u32,
    /// The longest back-off after a `fail`, after which the message must be visible again.
    pub redelivery_within: Duration,
}

impl Subject {
    /// An adapter implementing every port, with the embedded defaults (5 receives, back-off
    /// of at most 60 s); set the fields to match another adapter's configuration.
    pub fn new<A>(adapter: Arc<A>, time: Arc<dyn TimeControl>, namespace: &str) -> Self
    where
        A: JourneyStore + DocumentStore + Queue + QueueConsumer + 'static,
    {
        Self {
            journey: adapter.clone(),
            documents: adapter.clone(),
            queue: adapter.clone(),
            consumer: adapter,
            time,
            namespace: namespace.to_owned(),
            max_receives: 5,
            redelivery_within: Duration::seconds(60),
        }
    }

    /// A name inside the namespace.
    fn name(&self, local: &str) -> String {
        format!("{}-{local}", self.namespace)
    }

    /// A lead id inside the namespace.
    fn lead_id(&self, local: &str) -> LeadId {
        LeadId::new(self.name(local))
    }

    /// An e-mail inside the namespace.
    fn email(&self, local: &str) -> Email {
        Email::parse(&format!("{}@example.com", self.name(local))).expect("a valid e-mail")
    }
}

/// Runs every case, in order.
pub async fn run_all(s: &Subject) {
    create_lead_and_find_it(s).await;
    conditional_update_wins_and_stale_version_conflicts(s).await;
    commit_is_all_or_nothing(s).await;
    duplicate_claim_changes_nothing_and_returns_the_stored_outbox(s).await;
    a_held_claim_is_read_with_its_outbox(s).await;
    every_committed_transition_is_published_once(s).await;
    identity_taken_by_another_lead_conflicts(s).await;
    transitions_are_append_only_and_read_in_seq_order(s).await;
    transitions_recorded_in_a_window_come_in_pages(s).await;
    transitions_effective_in_a_window_come_in_pages(s).await;
    windows_cut_to_the_nanosecond(s).await;
    the_extent_spans_every_committed_transition(s).await;
    leads_come_newest_first_in_pages(s).await;
    a_reps_open_leads_come_least_recently_updated_first_in_pages(s).await;
    counters_add_up(s).await;
    documents_are_written_conditionally(s).await;
    documents_are_listed_by_prefix_in_pages(s).await;
    documents_are_due_by_index(s).await;
    expired_claims_and_documents_are_gone(s).await;
    concurrent_commits_on_one_version_have_one_winner(s).await;
    concurrent_updates_with_retry_lose_nothing(s).await;
    queue_sends_receives_and_acks(s).await;
    queue_hides_a_received_message_until_its_visibility_ends(s).await;
    queue_delays_a_message(s).await;
    queue_redelivers_a_failed_message_then_dead_letters_it(s).await;
    erasure_releases_identities_for_another_lead_to_claim(s).await;
    erasure_scrubs_activities_and_keeps_transitions_counters_and_reports(s).await;
    erasing_twice_changes_nothing_more(s).await;
}

// ---------------------------------------------------------------------------------------
// Leads and commits.

/// A new lead is found by id, e-mail and phone; creating it twice conflicts.
pub async fn create_lead_and_find_it(s: &Subject) {
    let complete = lead_with_email(s, "create-a", 1);
    committed(s, new_lead(&complete), "create a lead").await;

    let mut incomplete = Lead::new(s.lead_id("create-b"), at(0));
    incomplete.phone = Some(Phone::new(format!("+1555{}", digits(&s.namespace, 7))));
    incomplete.version = 1;
    committed(s, new_lead(&incomplete), "create an incomplete lead").await;

    let j = &s.journey;
    assert_eq!(
        j.lead(&complete.id).await.unwrap(),
        Some(complete.clone()),
        "by id"
    );
    let by_email = j
        .lead_by_email(complete.email.as_ref().unwrap())
        .await
        .unwrap();
    assert_eq!(by_email, Some(complete.clone()), "by e-mail");
    let by_phone = j
        .lead_by_phone(incomplete.phone.as_ref().unwrap())
        .await
        .unwrap();
    assert_eq!(by_phone, Some(incomplete), "by phone");
    assert_eq!(j.lead(&s.lead_id("create-none")).await.unwrap(), None);
    assert_eq!(
        j.lead_by_email(&s.email("create-none")).await.unwrap(),
        None
    );

    let again = j.commit(new_lead(&complete)).await.unwrap();
    assert!(
        is_conflict(&again),
        "creating a lead twice must conflict, got {again:?}"
    );
}

/// An update at the stored version wins; one at a stale version conflicts and changes nothing.
pub async fn conditional_update_wins_and_stale_version_conflicts(s: &Subject) {
    let v1 = lead_with_email(s, "update", 1);
    committed(s, new_lead(&v1), "create").await;

    let mut v2 = v1.clone();
    v2.version = 2;
    v2.score = Some(10.0);
    committed(s, update(&v2, Expect::Version(1)), "update at version 1").await;

    let mut stale = v1.clone();
    stale.version = 2;
    stale.score = Some(99.0);
    let outcome = s
        .journey
        .commit(update(&stale, Expect::Version(1)))
        .await
        .unwrap();
    assert!(
        is_conflict(&outcome),
        "stale version must conflict, got {outcome:?}"
    );
    assert_eq!(s.journey.lead(&v1.id).await.unwrap(), Some(v2.clone()));

    let mut forced = v2.clone();
    forced.version = 7;
    committed(s, update(&forced, Expect::Any), "unconditional write").await;
    assert_eq!(s.journey.lead(&v1.id).await.unwrap(), Some(forced));
}

/// A commit whose condition fails, early or late, writes none of its parts.
pub async fn commit_is_all_or_nothing(s: &Subject) {
    let v1 = lead_with_email(s, "atomic", 1);
    committed(s, new_lead(&v1), "create").await;
    // Not `journey_events`: the adapter adds its own messages there (see below).
    let topic = Topic::Activities;
    drain(s, topic).await;

    let mut v2 = v1.clone();
    v2.version = 2;
    // Every part of one commit; `from` is the version it expects the lead at.
    let parts = |from: u64, msg: &str| {
        let mut next = v1.clone();
        next.version = from + 1;
        let mut c = update(&next, Expect::Version(from));
        c.claims.push(claim(&s.name("atomic-claim")));
        c.transitions
            .push(transition(&v1.id, 1, Stage::Mql, at(10)));
        c.activities
            .push(activity(&s.name("atomic-act"), &v1.id, at(5)));
        c.counters.push(delta(s, "atomic", 1));
        c.documents
            .push(put(&doc(s, "atomic", "d", 1, None), Expect::Absent));
        c.outbox.push(message(topic, &s.name(msg)));
        c
    };

    let outcome = s.journey.commit(parts(5, "atomic-m1")).await.unwrap();
    assert!(
        is_conflict(&outcome),
        "stale lead must conflict, got {outcome:?}"
    );
    assert_nothing_of_atomic_written(s, &v1).await;
    assert!(
        !ids(&drain(s, topic).await).contains(&s.name("atomic-m1")),
        "outbox leaked"
    );

    committed(s, parts(1, "atomic-m2"), "the same commit, valid").await;
    assert_eq!(s.journey.lead(&v1.id).await.unwrap(), Some(v2.clone()));
    assert_eq!(s.journey.transitions(&v1.id).await.unwrap().len(), 1);
    assert_eq!(s.journey.activities(&v1.id).await.unwrap().len(), 1);
    assert_eq!(
        s.journey.counter(&counter_key(s, "atomic")).await.unwrap(),
        1
    );
    assert!(s
        .documents
        .get(&s.name("atomic"), "d")
        .await
        .unwrap()
        .is_some());
    assert!(
        ids(&drain(s, topic).await).contains(&s.name("atomic-m2")),
        "outbox not sent"
    );

    // The last part (the document) fails: the lead, transition and counter must not move.
    let mut v3 = v2.clone();
    v3.version = 3;
    let mut late = update(&v3, Expect::Version(2));
    late.transitions
        .push(transition(&v1.id, 2, Stage::Sal, at(20)));
    late.counters.push(delta(s, "atomic", 1));
    late.documents
        .push(put(&doc(s, "atomic", "d", 1, None), Expect::Absent));
    let outcome = s.journey.commit(late).await.unwrap();
    assert!(
        is_conflict(&outcome),
        "existing document must conflict, got {outcome:?}"
    );
    assert_eq!(s.journey.lead(&v1.id).await.unwrap(), Some(v2));
    assert_eq!(s.journey.transitions(&v1.id).await.unwrap().len(), 1);
    assert_eq!(
        s.journey.counter(&counter_key(s, "atomic")).await.unwrap(),
        1
    );
}

async fn assert_nothing_of_atomic_written(s: &Subject, v1: &Lead) {
    assert_eq!(
        s.journey.lead(&v1.id).await.unwrap().as_ref(),
        Some(v1),
        "lead moved"
    );
    assert!(
        s.journey.transitions(&v1.id).await.unwrap().is_empty(),
        "transition leaked"
    );
    assert!(
        s.journey.activities(&v1.id).await.unwrap().is_empty(),
        "activity leaked"
    );
    assert_eq!(
        s.journey.counter(&counter_key(s, "atomic")).await.unwrap(),
        0
    );
    let doc = s.documents.get(&s.name("atomic"), "d").await.unwrap();
    assert!(doc.is_none(), "document leaked");
}

/// A taken claim answers `Duplicate` with the first commit's outbox and writes nothing.
pub async fn duplicate_claim_changes_nothing_and_returns_the_stored_outbox(s: &Subject) {
    let topic = Topic::Activities;
    drain(s, topic).await;
    let key = s.name("dup-claim");
    let v1 = lead_with_email(s, "dup", 1);

    let mut first = new_lead(&v1);
    first.claims.push(claim(&key));
    first
        .transitions
        .push(transition(&v1.id, 1, Stage::New, at(0)));
    first.counters.push(delta(s, "dup", 1));
    first.outbox.push(message(topic, &s.name("dup-m1")));
    committed(s, first.clone(), "first delivery").await;
    assert_eq!(ids(&drain(s, topic).await), vec![s.name("dup-m1")]);

    let mut v2 = v1.clone();
    v2.version = 2;
    let mut second = update(&v2, Expect::Version(1));
    second.claims.push(claim(&key));
    second
        .transitions
        .push(transition(&v1.id, 2, Stage::Mql, at(5)));
    second.counters.push(delta(s, "dup", 1));
    second.outbox.push(message(topic, &s.name("dup-m2")));
    let outcome = s.journey.commit(second).await.unwrap();
    // The stored outbox is the caller's messages plus the journey event of each transition.
    let expected = CommitOutcome::Duplicate {
        key: key.clone(),
        outbox: first.clone().with_journey_events().outbox,
    };
    assert_eq!(outcome, expected);

    assert_eq!(s.journey.lead(&v1.id).await.unwrap(), Some(v1.clone()));
    assert_eq!(s.journey.transitions(&v1.id).await.unwrap().len(), 1);
    assert_eq!(s.journey.counter(&counter_key(s, "dup")).await.unwrap(), 1);
    assert!(
        drain(s, topic).await.is_empty(),
        "a duplicate sent its own outbox"
    );

    // One taken claim among several: the free ones stay free.
    let both = Commit {
        claims: vec![claim(&s.name("dup-fresh")), claim(&key)],
        ..Commit::default()
    };
    let outcome = s.journey.commit(both).await.unwrap();
    assert!(matches!(&outcome, CommitOutcome::Duplicate { key: k, .. } if *k == key));
    let fresh = Commit::claiming(s.name("dup-fresh"), None);
    committed(s, fresh, "the free claim of a refused commit").await;
}

/// A held claim is read with the outbox its commit stored; a free or expired one reads as
/// not held. (A store may keep the port's default, which never reads a claim as held; both
/// stores here answer.)
pub async fn a_held_claim_is_read_with_its_outbox(s: &Subject) {
    let key = s.name("held-claim");
    let expired = s.name("held-claim-expired");
    let mut first = Commit::claiming(&key, Some(at(86_400 * 365 * 20)));
    first
        .outbox
        .push(message(Topic::Activities, &s.name("held-m1")));
    let before = s.journey.held_claim(&key).await.unwrap();

    committed(s, first.clone(), "a claim with an outbox").await;
    committed(
        s,
        Commit::claiming(&expired, Some(at(-86_400 * 365 * 10))),
        "an already expired claim",
    )
    .await;
    drain(s, Topic::Activities).await;

    assert_eq!(before, None, "not taken yet");
    assert_eq!(
        s.journey.held_claim(&key).await.unwrap(),
        Some(first.with_journey_events().outbox)
    );
    assert_eq!(s.journey.held_claim(&expired).await.unwrap(), None);
}

/// Each transition of a commit that holds is published once on `journey_events`, with the
/// transition's ids and stages; a commit that fails publishes nothing.
pub async fn every_committed_transition_is_published_once(s: &Subject) {
    let v1 = lead_with_email(s, "events", 1);
    let mut first = new_lead(&v1);
    first
        .transitions
        .push(transition(&v1.id, 1, Stage::New, at(0)));
    committed(s, first, "a new lead").await;

    let mut v2 = v1.clone();
    v2.version = 2;
    let mut second = update(&v2, Expect::Version(1));
    second
        .transitions
        .push(transition(&v1.id, 2, Stage::Mql, at(5)));
    committed(s, second.clone(), "its MQL").await;
    let stale = s.journey.commit(second).await.unwrap();
    assert!(
        is_conflict(&stale),
        "a stale commit was accepted: {stale:?}"
    );

    let mine: Vec<Delivery> = drain(s, Topic::JourneyEvents)
        .await
        .into_iter()
        .filter(|d| d.id.starts_with(&format!("{}:", v1.id)))
        .collect();
    let expected = [1, 2].map(|seq| crate::events::event_id(&v1.id, seq));
    assert_eq!(ids(&mine), expected, "one event per committed transition");
    let event: crate::JourneyEvent = serde_json::from_str(&mine[1].body).expect("an event body");
    assert_eq!(
        (&event.lead_id, event.seq, event.to),
        (&v1.id, 2, Stage::Mql)
    );
}

/// An e-mail or phone that identifies one lead cannot be given to another.
pub async fn identity_taken_by_another_lead_conflicts(s: &Subject) {
    let phone = Phone::new(format!("+1666{}", digits(&s.namespace, 7)));
    let mut a = lead_with_email(s, "ident-a", 1);
    a.phone = Some(phone.clone());
    let mut create_a = new_lead(&a);
    create_a
        .lead
        .as_mut()
        .unwrap()
        .new_identities
        .push(Identity::Phone(phone.clone()));
    committed(s, create_a, "lead A").await;

    let mut b = Lead::new(s.lead_id("ident-b"), at(0));
    b.email = a.email.clone();
    b.version = 1;
    let outcome = s.journey.commit(new_lead(&b)).await.unwrap();
    assert!(
        is_conflict(&outcome),
        "A's e-mail given to B must conflict, got {outcome:?}"
    );

    let mut c = Lead::new(s.lead_id("ident-c"), at(0));
    c.phone = Some(phone.clone());
    c.version = 1;
    let mut create_c = new_lead(&c);
    create_c
        .lead
        .as_mut()
        .unwrap()
        .new_identities
        .push(Identity::Phone(phone.clone()));
    let outcome = s.journey.commit(create_c).await.unwrap();
    assert!(
        is_conflict(&outcome),
        "A's phone given to C must conflict, got {outcome:?}"
    );

    assert_eq!(s.journey.lead(&b.id).await.unwrap(), None);
    assert_eq!(s.journey.lead(&c.id).await.unwrap(), None);
    assert_eq!(
        s.journey
            .lead_by_email(a.email.as_ref().unwrap())
            .await
            .unwrap(),
        Some(a.clone())
    );
    assert_eq!(
        s.journey.lead_by_phone(&phone).await.unwrap(),
        Some(a.clone())
    );

    // Re-asserting a lead's own identity is fine.
    let mut a2 = a.clone();
    a2.version = 2;
    let mut again = update(&a2, Expect::Version(1));
    let email = a.email.clone().unwrap();
    again.lead.as_mut().unwrap().new_identities =
        vec![Identity::Email(email), Identity::Phone(phone)];
    committed(s, again, "A re-asserts its identities").await;
}

/// Transitions read back in `seq` order whatever order they were written in; a `seq` is
/// written once.
pub async fn transitions_are_append_only_and_read_in_seq_order(s: &Subject) {
    let id = s.lead_id("append");
    let t1 = transition(&id, 1, Stage::New, at(0));
    let t2 = transition(&id, 2, Stage::Mql, at(60));
    let t3 = transition(&id, 3, Stage::Sal, at(120));

    committed(s, appending(vec![t3.clone(), t2.clone()]), "seq 3 and 2").await;
    committed(s, appending(vec![t1.clone()]), "seq 1").await;
    let history = s.journey.transitions(&id).await.unwrap();
    assert_eq!(history, vec![t1, t2.clone(), t3]);

    let rewrite = vec![transition(&id, 2, Stage::Disqualified, at(90))];
    let outcome = s.journey.commit(appending(rewrite)).await.unwrap();
    assert!(
        is_conflict(&outcome),
        "rewriting seq 2 must conflict, got {outcome:?}"
    );
    assert_eq!(s.journey.transitions(&id).await.unwrap()[1], t2);
}

/// `transitions_recorded` returns `[from, to)` oldest first, a page at a time.
pub async fn transitions_recorded_in_a_window_come_in_pages(s: &Subject) {
    let base = at(86_400 * 400);
    let secs = |n: i64| base + Duration::seconds(n);
    let (l1, l2, l3, l4) = (
        s.lead_id("window-1"),
        s.lead_id("window-2"),
        s.lead_id("window-3"),
        s.lead_id("window-4"),
    );
    let inside = vec![
        transition(&l1, 1, Stage::New, secs(0)),
        transition(&l1, 2, Stage::Mql, secs(10)),
        transition(&l2, 1, Stage::New, secs(10)),
        transition(&l3, 1, Stage::New, secs(20)),
    ];
    let outside = vec![
        transition(&l4, 1, Stage::New, secs(-1)),
        transition(&l2, 2, Stage::Mql, secs(30)),
    ];
    let all = inside.iter().chain(&outside).cloned().collect();
    committed(s, appending(all), "window transitions").await;

    let mut seen = Vec::new();
    let mut cursor = None;
    for _ in 0..100 {
        let page = s
            .journey
            .transitions_recorded(secs(0), secs(30), cursor, 2)
            .await
            .unwrap();
        assert!(page.items.len() <= 2, "a page holds at most `limit` items");
        seen.extend(page.items);
        cursor = page.next;
        if cursor.is_none() {
            break;
        }
    }
    assert!(cursor.is_none(), "pagination did not end");
    assert!(
        seen.windows(2)
            .all(|w| w[0].recorded_at <= w[1].recorded_at),
        "not oldest first"
    );
    assert!(seen
        .iter()
        .all(|t| t.recorded_at >= secs(0) && t.recorded_at < secs(30)));
    let ours: Vec<_> = seen
        .iter()
        .filter(|t| in_ns(s, &t.lead_id))
        .cloned()
        .collect();
    assert_eq!(keys(&ours).len(), ours.len(), "an item came twice");
    assert_eq!(keys(&ours), keys(&inside));
}

/// A window `[from, to)` cuts at its times to the nanosecond, the precision of a [`Timestamp`]:
/// a transition at `to - 1ns` is inside, one at `to` is not (the API's reports read up to
/// `as_of + 1ns`).
pub async fn windows_cut_to_the_nanosecond(s: &Subject) {
    let t0 = at(86_400 * 450) + Duration::nanoseconds(1_500);
    let ns = |n: i64| t0 + Duration::nanoseconds(n);
    let lead = s.lead_id("nanos");
    let first = transition(&lead, 1, Stage::New, ns(0));
    let second = transition(&lead, 2, Stage::Mql, ns(1));
    committed(s, appending(vec![first, second]), "transitions 1 ns apart").await;

    for (from, to, want) in [
        (0, 1, vec![1]),
        (1, 2, vec![2]),
        (0, 2, vec![1, 2]),
        (2, 9, vec![]),
    ] {
        let recorded = s.journey.transitions_recorded(ns(from), ns(to), None, 10);
        let effective = s.journey.transitions_effective(ns(from), ns(to), None, 10);
        for (which, page) in [("recorded", recorded.await), ("effective", effective.await)] {
            let seqs: Vec<u32> = page
                .unwrap()
                .items
                .iter()
                .filter(|t| t.lead_id == lead)
                .map(|t| t.seq)
                .collect();
            assert_eq!(seqs, want, "{which} in [t0 + {from} ns, t0 + {to} ns)");
        }
    }
}

/// `extent` spans every committed transition: recorded no earlier than its first recorded day,
/// effective between its first and last effective day (it may be wider, never narrower).
pub async fn the_extent_spans_every_committed_transition(s: &Subject) {
    let id = s.lead_id("extent");
    let recorded = at(86_400 * 500);
    let mut early = transition(&id, 1, Stage::New, recorded);
    early.effective_at = at(-86_400 * 20_000);
    let mut late = transition(&id, 2, Stage::Mql, recorded + Duration::days(3));
    late.effective_at = at(86_400 * 30_000);
    committed(
        s,
        appending(vec![early.clone(), late.clone()]),
        "extent transitions",
    )
    .await;

    let e = s
        .journey
        .extent()
        .await
        .unwrap()
        .expect("a store with transitions has an extent");

    assert!(e.first_recorded <= recorded.date_naive(), "{e:?}");
    assert!(
        e.first_effective <= early.effective_at.date_naive(),
        "{e:?}"
    );
    assert!(e.last_effective >= late.effective_at.date_naive(), "{e:?}");
}

/// `transitions_effective` returns the transitions that took effect in `[from, to)`, whenever
/// they were recorded, by effective time, a page at a time.
pub async fn transitions_effective_in_a_window_come_in_pages(s: &Subject) {
    let base = at(86_400 * 500);
    let secs = |n: i64| base + Duration::seconds(n);
    let (l1, l2, l3) = (
        s.lead_id("effective-1"),
        s.lead_id("effective-2"),
        s.lead_id("effective-3"),
    );
    // A late one: it took effect inside the window but was recorded long after it.
    let mut late = transition(&l3, 1, Stage::New, secs(5));
    late.recorded_at = secs(86_400 * 30);
    let inside = vec![
        transition(&l1, 1, Stage::New, secs(0)),
        late,
        transition(&l1, 2, Stage::Mql, secs(10)),
        transition(&l2, 1, Stage::New, secs(20)),
    ];
    let mut recorded_inside = transition(&l2, 2, Stage::Mql, secs(40));
    recorded_inside.recorded_at = secs(15);
    let outside = vec![recorded_inside, transition(&l3, 2, Stage::Mql, secs(30))];
    let all = inside.iter().chain(&outside).cloned().collect();
    committed(s, appending(all), "effective-window transitions").await;

    let mut seen = Vec::new();
    let mut cursor = None;
    for _ in 0..100 {
        let page = s
            .journey
            .transitions_effective(secs(0), secs(30), cursor, 2)
            .await
            .unwrap();
        assert!(page.items.len() <= 2, "a page holds at most `limit` items");
        seen.extend(page.items);
        cursor = page.next;
        if cursor.is_none() {
            break;
        }
    }
    assert!(cursor.is_none(), "pagination did not end");
    let ours: Vec<_> = seen.into_iter().filter(|t| in_ns(s, &t.lead_id)).collect();
    assert!(
        ours.windows(2)
            .all(|w| w[0].effective_at <= w[1].effective_at),
        "not in effective order"
    );
    assert_eq!(keys(&ours), keys(&inside));
    assert_eq!(ours.len(), inside.len(), "an item came twice");
}

/// `leads` returns the newest first, a page at a time.
pub async fn leads_come_newest_first_in_pages(s: &Subject) {
    let mut created = Vec::new();
    for (n, name) in ["newest-1", "newest-2", "newest-3"].into_iter().enumerate() {
        let mut lead = lead_with_email(s, name, 1);
        lead.created_at = at(86_400 * 500 + n as i64);
        committed(s, new_lead(&lead), "a lead to list").await;
        created.push(lead.id);
    }

    let mut seen = Vec::new();
    let mut cursor = None;
    for _ in 0..10_000 {
        let page = s.journey.leads(cursor, 2).await.unwrap();
        assert!(page.items.len() <= 2, "a page holds at most `limit` items");
        seen.extend(page.items);
        cursor = page.next;
        if cursor.is_none() {
            break;
        }
    }
    assert!(
        seen.windows(2).all(|w| w[0].created_at >= w[1].created_at),
        "not newest first"
    );
    let ours: Vec<LeadId> = seen
        .into_iter()
        .map(|l| l.id)
        .filter(|id| created.contains(id))
        .collect();
    created.reverse();
    assert_eq!(ours, created);
}

/// `open_leads_of` lists the rep's leads while they are MQL, SAL or SQL, least recently
/// updated first, a page at a time; a lead leaves the list when it closes or changes hands.
pub async fn a_reps_open_leads_come_least_recently_updated_first_in_pages(s: &Subject) {
    let (ana, bo) = (RepId::new(s.name("ana")), RepId::new(s.name("bo")));
    let owned = |local: &str, owner: &RepId, stage: Stage, updated: i64| {
        let mut lead = lead_with_email(s, local, 1);
        lead.owner = Some(owner.clone());
        lead.journey.stage = Some(stage);
        lead.updated_at = at(updated);
        lead
    };
    let leads = [
        owned("open-sql", &ana, Stage::Sql, 30),
        owned("open-mql", &ana, Stage::Mql, 10),
        owned("open-sal", &ana, Stage::Sal, 20),
        owned("open-moves", &ana, Stage::Mql, 25),
        owned("open-closes", &ana, Stage::Sal, 15),
        owned("open-won", &ana, Stage::Won, 5),
        owned("open-new", &ana, Stage::New, 6),
        owned("open-bos", &bo, Stage::Mql, 7),
        lead_with_email(s, "open-unowned", 1),
    ];
    for lead in &leads {
        committed(s, new_lead(lead), "an owned lead").await;
    }
    let (moves, closes) = (&leads[3], &leads[4]);
    let mut moved = moves.clone();
    (moved.owner, moved.version) = (Some(bo.clone()), 2);
    committed(s, update(&moved, Expect::Version(1)), "reassigned").await;
    let mut closed = closes.clone();
    (closed.journey.stage, closed.version) = (Some(Stage::Disqualified), 2);
    committed(s, update(&closed, Expect::Version(1)), "disqualified").await;

    let mut pages = Vec::new();
    let mut cursor = None;
    for _ in 0..10 {
        let page = s.journey.open_leads_of(&ana, cursor, 2).await.unwrap();
        assert!(page.items.len() <= 2, "a page holds at most `limit` items");
        pages.push(page.items.into_iter().map(|l| l.id).collect::<Vec<_>>());
        cursor = page.next;
        if cursor.is_none() {
            break;
        }
    }
    let want = |locals: &[&str]| locals.iter().map(|l| s.lead_id(l)).collect::<Vec<_>>();
    assert_eq!(
        pages,
        vec![want(&["open-mql", "open-sal"]), want(&["open-sql"])],
        "ana's open leads, least recently updated first"
    );
    let bos = s.journey.open_leads_of(&bo, None, 10).await.unwrap();
    let bos: Vec<LeadId> = bos.items.into_iter().map(|l| l.id).collect();
    assert_eq!(bos, want(&["open-bos", "open-moves"]));
    let nobody = RepId::new(s.name("nobody"));
    let none = s.journey.open_leads_of(&nobody, None, 10).await.unwrap();
    assert_eq!((none.items.len(), none.next), (0, None));
}

/// Counter deltas add up, across commits and within one.
pub async fn counters_add_up(s: &Subject) {
    committed(s, counting(vec![delta(s, "sum", 1)]), "+1").await;
    let batch = vec![delta(s, "sum", 2), delta(s, "sum", 3), delta(s, "other", 1)];
    committed(s, counting(batch), "+2 +3, other +1").await;
    committed(s, counting(vec![delta(s, "sum", -1)]), "-1").await;

    assert_eq!(s.journey.counter(&counter_key(s, "sum")).await.unwrap(), 5);
    assert_eq!(
        s.journey.counter(&counter_key(s, "other")).await.unwrap(),
        1
    );
    assert_eq!(
        s.journey.counter(&counter_key(s, "never")).await.unwrap(),
        0
    );
}

// ---------------------------------------------------------------------------------------
// Documents.

/// Put, get, conditional put and delete.
pub async fn documents_are_written_conditionally(s: &Subject) {
    let coll = s.name("cond");
    let v1 = doc(s, "cond", "k", 1, Some("2030-01-01T00:00:00Z"));
    write_doc(s, put(&v1, Expect::Absent), true).await;
    assert_eq!(s.documents.get(&coll, "k").await.unwrap(), Some(v1.clone()));
    write_doc(s, put(&v1, Expect::Absent), false).await;

    let mut v2 = doc(s, "cond", "k", 2, None);
    v2.body = serde_json::json!({"step": 2, "nested": {"list": [1, 2, 3]}});
    write_doc(s, put(&v2, Expect::Version(1)), true).await;
    write_doc(s, put(&v2, Expect::Version(1)), false).await;
    assert_eq!(s.documents.get(&coll, "k").await.unwrap(), Some(v2));

    write_doc(s, delete(&coll, "k", Expect::Version(1)), false).await;
    write_doc(s, delete(&coll, "k", Expect::Version(2)), true).await;
    assert_eq!(s.documents.get(&coll, "k").await.unwrap(), None);
    write_doc(s, put(&v1, Expect::Absent), true).await;
    assert_eq!(s.documents.get(&coll, "k").await.unwrap(), Some(v1));
}

/// `list` returns a collection's documents whose key starts with a prefix, in key order.
pub async fn documents_are_listed_by_prefix_in_pages(s: &Subject) {
    let coll = s.name("list");
    for key in ["rep/2", "rep/10", "team/1", "rep/1", "repo/1", "rep/3"] {
        write_doc(s, put(&doc(s, "list", key, 1, None), Expect::Absent), true).await;
    }

    assert_eq!(
        list_all(s, &coll, "rep/").await,
        ["rep/1", "rep/10", "rep/2", "rep/3"]
    );
    let everything = ["rep/1", "rep/10", "rep/2", "rep/3", "repo/1", "team/1"];
    assert_eq!(list_all(s, &coll, "").await, everything);
    assert!(list_all(s, &coll, "x").await.is_empty());
    assert!(list_all(s, &s.name("list-empty"), "").await.is_empty());
}

async fn list_all(s: &Subject, collection: &str, prefix: &str) -> Vec<String> {
    let mut keys = Vec::new();
    let mut cursor = None;
    for _ in 0..100 {
        let page = s
            .documents
            .list(collection, prefix, cursor, 2)
            .await
            .unwrap();
        assert!(page.items.len() <= 2, "a page holds at most `limit` items");
        assert!(page.items.iter().all(|d| d.collection == collection));
        keys.extend(page.items.into_iter().map(|d| d.key));
        cursor = page.next;
        if cursor.is_none() {
            return keys;
        }
    }
    panic!("listing {collection} did not end");
}

/// `due` returns documents whose index is at most the bound, in index order.
pub async fn documents_are_due_by_index(s: &Subject) {
    let coll = s.name("due");
    let docs = [
        ("late", Some("2030-01-01T00:10:00Z")),
        ("mid-a", Some("2030-01-01T00:05:00Z")),
        ("unindexed", None),
        ("early", Some("2030-01-01T00:01:00Z")),
        ("mid-b", Some("2030-01-01T00:05:00Z")),
    ];
    for (key, index) in docs {
        write_doc(s, put(&doc(s, "due", key, 1, index), Expect::Absent), true).await;
    }

    let due = s
        .documents
        .due(&coll, "2030-01-01T00:05:00Z", 10)
        .await
        .unwrap();
    let keys: Vec<&str> = due.iter().map(|d| d.key.as_str()).collect();
    assert_eq!(keys.len(), 3, "due: {keys:?}");
    assert_eq!(keys[0], "early");
    assert_eq!(
        BTreeSet::from([keys[1], keys[2]]),
        BTreeSet::from(["mid-a", "mid-b"])
    );

    let first = s
        .documents
        .due(&coll, "2030-01-01T00:05:00Z", 1)
        .await
        .unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].key, "early");
    assert!(s.documents.due(&coll, "2029", 10).await.unwrap().is_empty());
}

/// A claim or document past its `expires_at` is gone for reads and conditions.
pub async fn expired_claims_and_documents_are_gone(s: &Subject) {
    let long_ago = at(-86_400 * 365 * 10);
    let key = s.name("expired-claim");
    committed(
        s,
        Commit::claiming(&key, Some(long_ago)),
        "an already expired claim",
    )
    .await;
    committed(s, Commit::claiming(&key, None), "claiming it again").await;
    let again = s
        .journey
        .commit(Commit::claiming(&key, None))
        .await
        .unwrap();
    assert!(
        matches!(again, CommitOutcome::Duplicate { .. }),
        "live claim: {again:?}"
    );

    let coll = s.name("expired");
    let mut old = doc(s, "expired", "k", 1, Some("2000"));
    old.expires_at = Some(long_ago);
    write_doc(s, put(&old, Expect::Absent), true).await;
    assert_eq!(s.documents.get(&coll, "k").await.unwrap(), None);
    assert!(list_all(s, &coll, "").await.is_empty());
    assert!(s.documents.due(&coll, "2030", 10).await.unwrap().is_empty());
    let fresh = doc(s, "expired", "k", 1, None);
    write_doc(s, put(&fresh, Expect::Absent), true).await;
    assert_eq!(s.documents.get(&coll, "k").await.unwrap(), Some(fresh));
}

// ---------------------------------------------------------------------------------------
// Concurrency.

/// Of several commits against the same lead version, exactly one wins.
pub async fn concurrent_commits_on_one_version_have_one_winner(s: &Subject) {
    let v1 = lead_with_email(s, "race", 1);
    committed(s, new_lead(&v1), "create").await;

    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..8 {
        let mut v2 = v1.clone();
        v2.version = 2;
        v2.score = Some(f64::from(n));
        let store = s.journey.clone();
        tasks.spawn(async move { (n, store.commit(update(&v2, Expect::Version(1))).await) });
    }

    let mut winners = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        let (n, outcome) = joined.expect("task");
        match outcome.expect("commit") {
            CommitOutcome::Committed => winners.push(n),
            CommitOutcome::Conflict { .. } => {}
            other => panic!("unexpected outcome {other:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "winners: {winners:?}");
    let stored = s.journey.lead(&v1.id).await.unwrap().unwrap();
    assert_eq!(stored.score, Some(f64::from(winners[0])));
}

/// Twenty concurrent read-modify-write updates of one lead, each retrying on conflict: none
/// is lost, and nothing of a refused attempt (its counter delta) leaks.
pub async fn concurrent_updates_with_retry_lose_nothing(s: &Subject) {
    const WRITERS: u32 = 20;
    let v1 = lead_with_email(s, "rmw", 1);
    committed(s, new_lead(&v1), "create").await;

    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..WRITERS {
        let (store, id) = (s.journey.clone(), v1.id.clone());
        let claim_key = s.name(&format!("rmw-claim-{n}"));
        let counter = delta(s, "rmw", 1);
        tasks.spawn(async move { add_one(store, id, claim_key, counter).await });
    }
    let mut attempts = 0;
    while let Some(joined) = tasks.join_next().await {
        attempts += joined.expect("task");
    }

    let stored = s.journey.lead(&v1.id).await.unwrap().unwrap();
    assert_eq!(stored.score, Some(f64::from(WRITERS)), "an update was lost");
    assert_eq!(stored.version, 1 + u64::from(WRITERS));
    let counted = s.journey.counter(&counter_key(s, "rmw")).await.unwrap();
    assert_eq!(counted, i64::from(WRITERS), "{attempts} attempts");
}

/// Adds 1 to the lead's score, retrying on conflict; returns the attempts made.
async fn add_one(
    store: Arc<dyn JourneyStore>,
    id: LeadId,
    claim_key: String,
    counter: CounterDelta,
) -> u32 {
    for attempt in 1..=500 {
        let mut lead = store.lead(&id).await.unwrap().expect("lead exists");
        let expect = Expect::Version(lead.version);
        lead.version += 1;
        lead.score = Some(lead.score.unwrap_or(0.0) + 1.0);

        let mut commit = update(&lead, expect);
        commit.claims.push(claim(&claim_key));
        commit.counters.push(counter.clone());
        match store.commit(commit).await {
            Ok(CommitOutcome::Committed) => return attempt,
            Ok(CommitOutcome::Conflict { .. }) => tokio::task::yield_now().await,
            Err(e) if e.is_retryable() => tokio::task::yield_now().await,
            other => panic!("unexpected outcome {other:?}"),
        }
    }
    panic!("no success in 500 attempts");
}

// ---------------------------------------------------------------------------------------
// Queues.

/// Sent messages are received once each (per topic), and an acked message is gone.
pub async fn queue_sends_receives_and_acks(s: &Subject) {
    let (topic, other) = (Topic::Notifications, Topic::Mqls);
    drain(s, topic).await;
    drain(s, other).await;
    let sent: Vec<Message> = (1..=3)
        .map(|n| message(topic, &s.name(&format!("q-{n}"))))
        .collect();
    let elsewhere = message(other, &s.name("q-other"));
    let mut batch = sent.clone();
    batch.push(elsewhere.clone());
    s.queue.send(&batch).await.unwrap();

    let got = receive_n(s, topic, 3, 30).await;
    let mut by_id: Vec<(String, String, u32)> = got
        .iter()
        .map(|d| (d.id.clone(), d.body.clone(), d.receive_count))
        .collect();
    by_id.sort();
    let expected: Vec<_> = sent
        .iter()
        .map(|m| (m.id.clone(), m.body.clone(), 1))
        .collect();
    assert_eq!(by_id, expected);
    let receipts: BTreeSet<&str> = got.iter().map(|d| d.receipt.as_str()).collect();
    assert_eq!(receipts.len(), 3, "receipts must differ");

    for d in &got {
        s.consumer.ack(topic, &d.receipt).await.unwrap();
    }
    s.time.advance(Duration::seconds(31)).await;
    assert!(
        receive(s, topic, 30).await.is_empty(),
        "an acked message came back"
    );
    assert_eq!(ids(&drain(s, other).await), vec![elsewhere.id]);
}

/// A received message stays hidden for the visibility timeout, then comes back with a new
/// receipt and a higher receive count.
pub async fn queue_hides_a_received_message_until_its_visibility_ends(s: &Subject) {
    let topic = Topic::Notifications;
    drain(s, topic).await;
    let m = message(topic, &s.name("vis"));
    s.queue.send(std::slice::from_ref(&m)).await.unwrap();

    let first = receive_n(s, topic, 1, 5).await;
    assert_eq!(
        (first[0].id.as_str(), first[0].receive_count),
        (m.id.as_str(), 1)
    );
    assert!(
        receive(s, topic, 5).await.is_empty(),
        "visible while hidden"
    );

    s.time.advance(Duration::seconds(6)).await;
    let second = receive_n(s, topic, 1, 5).await;
    assert_eq!(
        (second[0].id.as_str(), second[0].receive_count),
        (m.id.as_str(), 2)
    );
    assert_ne!(second[0].receipt, first[0].receipt);

    s.consumer.ack(topic, &second[0].receipt).await.unwrap();
    s.time.advance(Duration::seconds(6)).await;
    assert!(
        receive(s, topic, 5).await.is_empty(),
        "an acked message came back"
    );
}

/// A delayed message is invisible until its delay has passed.
pub async fn queue_delays_a_message(s: &Subject) {
    let topic = Topic::LeadFetch;
    drain(s, topic).await;
    let mut m = message(topic, &s.name("delayed"));
    m.delay_seconds = 5;
    s.queue.send(std::slice::from_ref(&m)).await.unwrap();

    assert!(
        receive(s, topic, 30).await.is_empty(),
        "visible before its delay"
    );
    s.time.advance(Duration::seconds(6)).await;
    assert_eq!(ids(&drain(s, topic).await), vec![m.id]);
}

/// `fail` shows a message again, until its `max_receives`-th receive fails: then it is in
/// the dead letters and never received again.
pub async fn queue_redelivers_a_failed_message_then_dead_letters_it(s: &Subject) {
    let topic = Topic::Notifications;
    drain(s, topic).await;
    let m = message(topic, &s.name("poison"));
    s.queue.send(std::slice::from_ref(&m)).await.unwrap();
    let wait = s.redelivery_within + Duration::seconds(1);

    for n in 1..=s.max_receives {
        let got = receive_n(s, topic, 1, 30).await;
        assert_eq!(
            (got[0].id.as_str(), got[0].receive_count),
            (m.id.as_str(), n)
        );
        s.consumer
            .fail(topic, &got[0].receipt, "handler_failed")
            .await
            .unwrap();
        s.time.advance(wait).await;
    }

    assert!(
        receive(s, topic, 30).await.is_empty(),
        "dead-lettered message came back"
    );
    let dead = s.consumer.dead_letters(topic).await.unwrap();
    let ours: Vec<&Delivery> = dead.iter().filter(|d| d.id == m.id).collect();
    assert_eq!(ours.len(), 1, "dead letters: {:?}", ids(&dead));
    assert_eq!(ours[0].body, m.body);
}

/// Receives until `n` messages came (SQS may return fewer than are visible per call).
async fn receive_n(s: &Subject, topic: Topic, n: usize, visibility: u32) -> Vec<Delivery> {
    let mut got = Vec::new();
    for _ in 0..20 {
        got.extend(
            s.consumer
                .receive(topic, n - got.len(), visibility)
                .await
                .unwrap(),
        );
        if got.len() >= n {
            return got;
        }
    }
    panic!("received {} of {n} messages on {topic}", got.len());
}

async fn receive(s: &Subject, topic: Topic, visibility: u32) -> Vec<Delivery> {
    s.consumer.receive(topic, 10, visibility).await.unwrap()
}

/// Receives and acks every visible message of `topic`, returning them.
async fn drain(s: &Subject, topic: Topic) -> Vec<Delivery> {
    let mut all = Vec::new();
    for _ in 0..1000 {
        let batch = receive(s, topic, 60).await;
        if batch.is_empty() {
            return all;
        }
        for d in &batch {
            s.consumer.ack(topic, &d.receipt).await.unwrap();
        }
        all.extend(batch);
    }
    panic!("{topic} did not drain");
}

// ---------------------------------------------------------------------------------------
// Erasure.

/// A person to erase: a lead with e-mail and phone (both identities) and a name, two
/// transitions (new, MQL) with a counter, and two activities, one of which quotes the e-mail in
/// an attribute (a tracked URL), as a careless tracker would.
struct Person {
    lead: Lead,
    email: Email,
    phone: Phone,
    activities: Vec<Activity>,
}

async fn person(s: &Subject, local: &str) -> Person {
    let email = s.email(local);
    let phone = Phone::new(format!("+1777{}", digits(&s.name(local), 7)));
    let mut lead = lead_with_email(s, local, 1);
    lead.phone = Some(phone.clone());
    lead.profile.name = Some(format!("Dana {local}"));
    let mut form = activity(&s.name(&format!("{local}-form")), &lead.id, at(0));
    form.hand_raiser = true;
    let mut visit = activity(&s.name(&format!("{local}-visit")), &lead.id, at(60));
    visit.kind = ActivityKind::PricingViewed;
    visit
        .attributes
        .insert("path".into(), format!("/pricing?email={}", email.as_str()));
    let activities = vec![form, visit];

    let mut commit = new_lead(&lead);
    for (seq, to, secs) in [(1, Stage::New, 0), (2, Stage::Mql, 3600)] {
        let mut t = transition(&lead.id, seq, to, at(secs));
        t.dims.source = Some(s.name(local));
        commit.transitions.push(t);
    }
    commit.counters.push(delta(s, local, 1));
    commit.activities = activities.clone();
    committed(s, commit, "create the person to erase").await;
    Person {
        lead,
        email,
        phone,
        activities,
    }
}

/// What an erasure sends for `p`, whose lead is stored as `stored`: the lead without e-mail,
/// phone and profile, both identities released, the activities without attributes.
fn erasure(p: &Person, stored: &Lead) -> Commit {
    let mut scrubbed = stored.clone();
    scrubbed.email = None;
    scrubbed.phone = None;
    scrubbed.profile = Default::default();
    scrubbed.version = stored.version + 1;
    let mut commit = update(&scrubbed, Expect::Version(stored.version));
    let identities = [
        Identity::Email(p.email.clone()),
        Identity::Phone(p.phone.clone()),
    ];
    commit.released_identities = identities
        .into_iter()
        .map(|identity| IdentityRelease {
            identity,
            lead_id: p.lead.id.clone(),
        })
        .collect();
    commit.rewritten_activities = p
        .activities
        .iter()
        .map(|a| Activity {
            attributes: Default::default(),
            ..a.clone()
        })
        .collect();
    commit
}

async fn stored_lead(s: &Subject, id: &LeadId) -> Lead {
    s.journey
        .lead(id)
        .await
        .unwrap()
        .expect("the lead is stored")
}

/// After erasure neither the e-mail nor the phone finds the lead, and another lead may claim
/// both; releasing an identity that now points at that other lead conflicts and writes nothing.
/// A commit that would claim and release one identity is refused.
pub async fn erasure_releases_identities_for_another_lead_to_claim(s: &Subject) {
    let p = person(s, "erase-ident").await;
    let mut both_ways = erasure(&p, &p.lead);
    let claimed = Identity::Email(p.email.clone());
    both_ways
        .lead
        .as_mut()
        .unwrap()
        .new_identities
        .push(claimed);
    let refused = s.journey.commit(both_ways).await;
    assert!(
        matches!(refused, Err(StoreError::Invalid(_))),
        "claiming and releasing one identity must be refused, got {refused:?}"
    );

    committed(s, erasure(&p, &p.lead), "erase").await;

    let j = &s.journey;
    assert_eq!(j.lead_by_email(&p.email).await.unwrap(), None, "by e-mail");
    assert_eq!(j.lead_by_phone(&p.phone).await.unwrap(), None, "by phone");
    let erased = stored_lead(s, &p.lead.id).await;
    assert_eq!((erased.email, erased.phone), (None, None));
    assert_eq!(erased.profile, Default::default());

    let mut next = Lead::new(s.lead_id("erase-ident-next"), at(7200));
    next.email = Some(p.email.clone());
    next.phone = Some(p.phone.clone());
    next.version = 1;
    committed(s, new_lead(&next), "a new lead claims the e-mail and phone").await;
    assert_eq!(j.lead_by_email(&p.email).await.unwrap(), Some(next.clone()));
    assert_eq!(j.lead_by_phone(&p.phone).await.unwrap(), Some(next.clone()));

    let late = erasure(&p, &stored_lead(s, &p.lead.id).await);
    let outcome = j.commit(late).await.unwrap();
    assert!(
        is_conflict(&outcome),
        "releasing another lead's identity must conflict, got {outcome:?}"
    );
    assert_eq!(stored_lead(s, &p.lead.id).await.version, 2, "lead moved");
    assert_eq!(j.lead_by_email(&p.email).await.unwrap(), Some(next.clone()));
    assert_eq!(j.lead_by_phone(&p.phone).await.unwrap(), Some(next));
}

/// The lead's funnel report as JSON, rebuilt from its transitions that took effect on
/// 2030-01-01 (read through the port, as the rollup reads them).
async fn report_of(s: &Subject, id: &LeadId) -> String {
    let mut mine = Vec::new();
    let mut cursor = None;
    loop {
        let page = s
            .journey
            .transitions_effective(at(0), at(86_400), cursor, 100)
            .await
            .unwrap();
        mine.extend(page.items.into_iter().filter(|t| t.lead_id == *id));
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    let period = lifecycle::funnel::Period {
        from: at(0),
        to: at(86_400),
    };
    let report = lifecycle::funnel::report(&mine, period, Dimension::Source, at(86_400));
    assert_eq!(report.total.entered.get(&Stage::Mql), Some(&1), "one MQL");
    serde_json::to_string(&report).expect("a report serialises")
}

/// Erasure leaves the activities (ids, kinds, times) without their attributes, and the
/// transitions, counters and the report rebuilt from the transitions as they were. Rewriting
/// an activity that is not stored conflicts and writes nothing.
pub async fn erasure_scrubs_activities_and_keeps_transitions_counters_and_reports(s: &Subject) {
    let p = person(s, "erase-acts").await;
    let j = &s.journey;
    let transitions = j.transitions(&p.lead.id).await.unwrap();
    let report = report_of(s, &p.lead.id).await;
    let counter = counter_key(s, "erase-acts");
    assert_eq!(j.counter(&counter).await.unwrap(), 1);
    let stored = serde_json::to_string(&j.activities(&p.lead.id).await.unwrap()).unwrap();
    assert!(
        stored.contains(p.email.as_str()),
        "the tracked URL is stored"
    );

    let mut unknown = erasure(&p, &p.lead);
    unknown
        .rewritten_activities
        .push(activity(&s.name("erase-acts-none"), &p.lead.id, at(30)));
    let outcome = j.commit(unknown).await.unwrap();
    assert!(
        is_conflict(&outcome),
        "rewriting an activity that is not stored must conflict, got {outcome:?}"
    );
    assert_eq!(stored_lead(s, &p.lead.id).await, p.lead, "lead moved");
    assert_eq!(j.activities(&p.lead.id).await.unwrap(), p.activities);
    assert_eq!(
        j.lead_by_email(&p.email).await.unwrap(),
        Some(p.lead.clone())
    );

    committed(s, erasure(&p, &p.lead), "erase").await;

    let activities = j.activities(&p.lead.id).await.unwrap();
    let shape = |a: &Activity| (a.id.clone(), a.kind, a.occurred_at, a.hand_raiser);
    assert_eq!(
        activities.iter().map(shape).collect::<Vec<_>>(),
        p.activities.iter().map(shape).collect::<Vec<_>>(),
        "the activities stay, scrubbed"
    );
    assert!(activities.iter().all(|a| a.attributes.is_empty()));
    let text = serde_json::to_string(&activities).unwrap();
    assert!(
        !text.contains(p.email.as_str()),
        "an activity kept the e-mail"
    );
    assert_eq!(j.transitions(&p.lead.id).await.unwrap(), transitions);
    assert_eq!(j.counter(&counter).await.unwrap(), 1);
    assert_eq!(report_of(s, &p.lead.id).await, report, "the report changed");
}

/// An erasure applied again to the erased lead commits and changes nothing but its version.
pub async fn erasing_twice_changes_nothing_more(s: &Subject) {
    let p = person(s, "erase-twice").await;
    committed(s, erasure(&p, &p.lead), "erase").await;
    let once = stored_lead(s, &p.lead.id).await;
    let activities = s.journey.activities(&p.lead.id).await.unwrap();

    committed(s, erasure(&p, &once), "erase again").await;

    let twice = stored_lead(s, &p.lead.id).await;
    assert_eq!(twice.version, once.version + 1);
    assert_eq!(
        Lead {
            version: once.version,
            ..twice
        },
        once
    );
    assert_eq!(s.journey.activities(&p.lead.id).await.unwrap(), activities);
    assert_eq!(s.journey.lead_by_email(&p.email).await.unwrap(), None);
    assert_eq!(s.journey.lead_by_phone(&p.phone).await.unwrap(), None);
    assert_eq!(s.journey.transitions(&p.lead.id).await.unwrap().len(), 2);
}

// ---------------------------------------------------------------------------------------
// Builders.

/// 2030-01-01T00:00:00Z plus `secs` seconds.
fn at(secs: i64) -> Timestamp {
    chrono::DateTime::from_timestamp(1_893_456_000 + secs, 0).expect("in range")
}

/// `n` decimal digits derived from `seed`, so phone numbers differ between namespaces.
fn digits(seed: &str, n: usize) -> String {
    let hash = seed
        .bytes()
        .fold(7u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
    format!("{:0width$}", hash % 10u64.pow(n as u32), width = n)
}

fn in_ns(s: &Subject, id: &LeadId) -> bool {
    id.as_str().starts_with(&format!("{}-", s.namespace))
}

fn lead_with_email(s: &Subject, local: &str, version: u64) -> Lead {
    let mut lead = Lead::new(s.lead_id(local), at(0));
    lead.email = Some(s.email(local));
    lead.version = version;
    lead
}

/// Creates `lead` (at version 1) with its e-mail and phone as identities.
fn new_lead(lead: &Lead) -> Commit {
    let mut commit = update(lead, Expect::Absent);
    let write = commit.lead.as_mut().expect("lead write");
    write
        .new_identities
        .extend(lead.email.clone().map(Identity::Email));
    write
        .new_identities
        .extend(lead.phone.clone().map(Identity::Phone));
    commit
}

fn update(lead: &Lead, expect: Expect) -> Commit {
    Commit {
        lead: Some(LeadWrite {
            lead: lead.clone(),
            expect,
            new_identities: Vec::new(),
        }),
        ..Commit::default()
    }
}

fn claim(key: &str) -> Claim {
    Claim {
        key: key.to_owned(),
        expires_at: None,
    }
}

fn transition(lead: &LeadId, seq: u32, to: Stage, recorded_at: Timestamp) -> Transition {
    Transition {
        lead_id: lead.clone(),
        seq,
        cycle: 1,
        from: None,
        to,
        effective_at: recorded_at,
        recorded_at,
        actor: Actor::System {
            component: "conformance".to_owned(),
        },
        reason: None,
        cause: CauseId::new(format!("{lead}/{seq}")),
        skipped: Vec::new(),
        late: false,
        dims: Default::default(),
    }
}

fn appending(transitions: Vec<Transition>) -> Commit {
    Commit {
        transitions,
        ..Commit::default()
    }
}

fn counting(counters: Vec<CounterDelta>) -> Commit {
    Commit {
        counters,
        ..Commit::default()
    }
}

fn keys(ts: &[Transition]) -> BTreeSet<(String, u32)> {
    ts.iter().map(|t| (t.lead_id.to_string(), t.seq)).collect()
}

fn activity(id: &str, lead: &LeadId, occurred_at: Timestamp) -> Activity {
    Activity {
        id: id.to_owned(),
        lead_id: lead.clone(),
        kind: ActivityKind::FormSubmitted,
        occurred_at,
        hand_raiser: false,
        attributes: [("form".to_owned(), "conformance".to_owned())].into(),
    }
}

fn counter_key(s: &Subject, group: &str) -> CounterKey {
    CounterKey {
        day: at(0).date_naive(),
        stage: Stage::Mql,
        dimension: Dimension::Campaign,
        group: s.name(group),
    }
}

fn delta(s: &Subject, group: &str, by: i64) -> CounterDelta {
    CounterDelta {
        key: counter_key(s, group),
        delta: by,
    }
}

fn doc(s: &Subject, collection: &str, key: &str, version: u64, index: Option<&str>) -> Document {
    Document {
        collection: s.name(collection),
        key: key.to_owned(),
        version,
        index: index.map(str::to_owned),
        body: serde_json::json!({ "key": key, "version": version }),
        expires_at: None,
    }
}

fn put(doc: &Document, expect: Expect) -> DocumentWrite {
    DocumentWrite::Put {
        doc: doc.clone(),
        expect,
    }
}

fn delete(collection: &str, key: &str, expect: Expect) -> DocumentWrite {
    DocumentWrite::Delete {
        collection: collection.to_owned(),
        key: key.to_owned(),
        expect,
    }
}

fn message(topic: Topic, id: &str) -> Message {
    Message {
        topic,
        id: id.to_owned(),
        body: serde_json::json!({ "id": id }).to_string(),
        delay_seconds: 0,
    }
}

fn ids(deliveries: &[Delivery]) -> Vec<String> {
    deliveries.iter().map(|d| d.id.clone()).collect()
}

fn is_conflict(outcome: &CommitOutcome) -> bool {
    matches!(outcome, CommitOutcome::Conflict { .. })
}

async fn committed(s: &Subject, commit: Commit, what: &str) {
    let outcome = s.journey.commit(commit).await.expect(what);
    assert_eq!(outcome, CommitOutcome::Committed, "{what}");
}

/// Writes one document; `ok` says whether it must be committed or must conflict.
async fn write_doc(s: &Subject, write: DocumentWrite, ok: bool) {
    let (collection, key) = write.target();
    let label = format!("{collection}/{key}");
    let commit = Commit {
        documents: vec![write],
        ..Commit::default()
    };
    let outcome = s.journey.commit(commit).await.expect("document write");
    match (ok, &outcome) {
        (true, CommitOutcome::Committed) | (false, CommitOutcome::Conflict { .. }) => {}
        _ => panic!("document write to {label}: wanted ok={ok}, got {outcome:?}"),
    }
}

/// A simulated clock for a harness, showing 2030-01-01T00:00:00Z: build the adapter on it and
/// pass the same clock as the [`Subject`]'s [`TimeControl`].
pub fn manual_clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(at(0)))
}
