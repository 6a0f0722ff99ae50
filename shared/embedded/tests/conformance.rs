//! The embedded store against the port conformance suite (in memory, one test per case, and
//! the whole suite on a file), plus what only the embedded store promises: a file that
//! survives a restart, a schema version, and tables readable with plain SQL.

use embedded::EmbeddedStore;
use ports::{
    conformance::{self, Subject},
    ManualClock,
};
use std::sync::Arc;

/// A fresh in-memory store on a simulated clock, seen through every port.
fn in_memory() -> (Subject, Arc<EmbeddedStore>, Arc<ManualClock>) {
    let clock = conformance::manual_clock();
    let store = EmbeddedStore::in_memory()
        .unwrap()
        .with_clock(clock.clone());
    subject(store, clock)
}

fn subject(
    store: EmbeddedStore,
    clock: Arc<ManualClock>,
) -> (Subject, Arc<EmbeddedStore>, Arc<ManualClock>) {
    let config = store.queue_config();
    let store = Arc::new(store);
    let mut s = Subject::new(store.clone(), clock.clone(), "t");
    s.max_receives = config.max_receives;
    s.redelivery_within = chrono::Duration::seconds(i64::from(config.max_backoff_seconds));
    (s, store, clock)
}

/// One in-memory test per conformance case, so a failure names its case.
macro_rules! conformance_cases {
    ($($case:ident),* $(,)?) => {
        mod case {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let (subject, _, _) = super::in_memory();
                    ports::conformance::$case(&subject).await;
                }
            )*
        }
    };
}

conformance_cases!(
    create_lead_and_find_it,
    conditional_update_wins_and_stale_version_conflicts,
    commit_is_all_or_nothing,
    duplicate_claim_changes_nothing_and_returns_the_stored_outbox,
    a_held_claim_is_read_with_its_outbox,
    every_committed_transition_is_published_once,
    identity_taken_by_another_lead_conflicts,
    transitions_are_append_only_and_read_in_seq_order,
    transitions_recorded_in_a_window_come_in_pages,
    transitions_effective_in_a_window_come_in_pages,
    windows_cut_to_the_nanosecond,
    the_extent_spans_every_committed_transition,
    leads_come_newest_first_in_pages,
    a_reps_open_leads_come_least_recently_updated_first_in_pages,
    counters_add_up,
    documents_are_written_conditionally,
    documents_are_listed_by_prefix_in_pages,
    documents_are_due_by_index,
    expired_claims_and_documents_are_gone,
    concurrent_commits_on_one_version_have_one_winner,
    concurrent_updates_with_retry_lose_nothing,
    queue_sends_receives_and_acks,
    queue_hides_a_received_message_until_its_visibility_ends,
    queue_delays_a_message,
    queue_redelivers_a_failed_message_then_dead_letters_it,
    erasure_releases_identities_for_another_lead_to_claim,
    erasure_scrubs_activities_and_keeps_transitions_counters_and_reports,
    erasing_twice_changes_nothing_more,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_suite_passes_on_one_file() {
    let dir = tempfile::tempdir().unwrap();
    let clock = conformance::manual_clock();
    let store = EmbeddedStore::open(dir.path().join("journey.db")).unwrap();
    let (subject, _, _) = subject(store.with_clock(clock.clone()), clock);
    conformance::run_all(&subject).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_suite_passes_twice_on_one_store_with_other_namespaces() {
    let (mut subject, _, _) = in_memory();
    conformance::run_all(&subject).await;
    subject.namespace = "second-run".to_owned();
    conformance::run_all(&subject).await;
}

// ---------------------------------------------------------------------------------------
// What only the embedded store promises.

mod embedded_only {
    use super::*;
    use chrono::Duration;
    use embedded::{OpenError, QueueConfig, MAX_BODY_BYTES};
    use lifecycle::{
        funnel::counter_deltas, Actor, CauseId, Email, Lead, LeadId, RepId, Stage, Timestamp,
        Transition,
    };
    use ports::{
        commit::Identity, Claim, Commit, CommitOutcome, Document, DocumentStore, DocumentWrite,
        Expect, JourneyStore, LeadWrite, Message, Queue, QueueConsumer, QueueError, StoreError,
        Topic,
    };
    use rusqlite::Connection;

    fn at(secs: i64) -> Timestamp {
        chrono::DateTime::from_timestamp(1_893_456_000 + secs, 0).unwrap()
    }

    fn lead(id: &str, email: &str, version: u64) -> Lead {
        let mut lead = Lead::new(LeadId::new(id), at(0));
        lead.email = Some(Email::parse(email).unwrap());
        lead.version = version;
        lead
    }

    fn create(lead: &Lead) -> Commit {
        Commit {
            lead: Some(LeadWrite {
                lead: lead.clone(),
                expect: Expect::Absent,
                new_identities: vec![Identity::Email(lead.email.clone().unwrap())],
            }),
            ..Commit::default()
        }
    }

    fn transition(lead: &str, seq: u32, to: Stage) -> Transition {
        Transition {
            lead_id: LeadId::new(lead),
            seq,
            cycle: 1,
            from: None,
            to,
            effective_at: at(60),
            recorded_at: at(61),
            actor: Actor::System {
                component: "test".into(),
            },
            reason: None,
            cause: CauseId::new(format!("cause-{seq}")),
            skipped: Vec::new(),
            late: false,
            dims: Default::default(),
        }
    }

    fn message(topic: Topic, id: &str) -> Message {
        Message {
            topic,
            id: id.into(),
            body: format!("{{\"lead_id\":\"{id}\"}}"),
            delay_seconds: 0,
        }
    }

    fn doc(key: &str) -> Document {
        Document {
            collection: "sla_clock".into(),
            key: key.into(),
            version: 1,
            index: Some("2030-01-01T00:15:00Z".into()),
            body: serde_json::json!({"lead_id": "lead-1", "policy": "hand-raiser"}),
            expires_at: None,
        }
    }

    /// Everything one webhook commit writes, for the restart test.
    fn webhook_commit() -> Commit {
        let t = transition("lead-1", 1, Stage::New);
        let mut commit = create(&lead("lead-1", "dana@quillfield.example.com", 1));
        commit.claims.push(Claim {
            key: "webhook:typeform:evt-1".into(),
            expires_at: None,
        });
        commit.counters = counter_deltas(&t);
        commit.transitions.push(t);
        commit.documents.push(DocumentWrite::Put {
            doc: doc("lead-1"),
            expect: Expect::Absent,
        });
        commit.outbox.push(message(Topic::Activities, "act-1"));
        commit
    }

    /// An erased person's answers are deleted documents; their bytes must not stay readable in
    /// the file's free pages once the store is closed (`secure_delete`).
    #[tokio::test]
    async fn deleted_content_is_not_left_in_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journey.db");
        let marker = "Zoë Østergaard-Núñez, +43155501234, answers in free text";
        let mut answers = doc("form-1");
        answers.collection = "form_submission".into();
        answers.index = None;
        answers.body = serde_json::json!({ "answers": marker.repeat(40) });
        {
            let store = EmbeddedStore::open(&path).unwrap();
            let put = Commit {
                documents: vec![DocumentWrite::Put {
                    doc: answers,
                    expect: Expect::Absent,
                }],
                ..Commit::default()
            };
            assert_eq!(store.commit(put).await.unwrap(), CommitOutcome::Committed);
            let delete = Commit {
                documents: vec![DocumentWrite::Delete {
                    collection: "form_submission".into(),
                    key: "form-1".into(),
                    expect: Expect::Any,
                }],
                ..Commit::default()
            };
            assert_eq!(
                store.commit(delete).await.unwrap(),
                CommitOutcome::Committed
            );
        }

        let mut bytes = std::fs::read(&path).unwrap();
        if let Ok(wal) = std::fs::read(dir.path().join("journey.db-wal")) {
            bytes.extend(wal);
        }
        let needle = "Østergaard".as_bytes();
        assert!(
            !bytes.windows(needle.len()).any(|w| w == needle),
            "the deleted answers are still in the file"
        );
    }

    /// The local runner ends with `process::exit`, which closes no connection: `checkpoint`
    /// is what folds the log into the file. After it, while the store is still open, the log
    /// is empty and the file holds the data.
    #[tokio::test]
    async fn a_checkpoint_empties_the_log_into_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journey.db");
        let store = EmbeddedStore::open(&path).unwrap();
        let put = Commit {
            documents: vec![DocumentWrite::Put {
                doc: doc("clock-1"),
                expect: Expect::Absent,
            }],
            ..Commit::default()
        };
        store.commit(put).await.unwrap();
        let wal = dir.path().join("journey.db-wal");
        let before = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);

        store.checkpoint().await.unwrap();

        assert!(before > 0, "the commit went to the log first");
        assert_eq!(std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0), 0);
        let copy = dir.path().join("copy.db");
        std::fs::copy(&path, &copy).unwrap();
        let conn = Connection::open(&copy).unwrap();
        let n: i64 = conn
            .query_row("SELECT count(*) FROM documents", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 1, "the file alone holds the document");
    }

    #[tokio::test]
    async fn a_reopened_file_keeps_everything() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journey.db");
        let clock = conformance::manual_clock();
        {
            let store = EmbeddedStore::open(&path)
                .unwrap()
                .with_clock(clock.clone());
            let outcome = store.commit(webhook_commit()).await.unwrap();
            assert_eq!(outcome, CommitOutcome::Committed);
            store.send(&[message(Topic::Mqls, "mql-1")]).await.unwrap();
            let poison = store.receive(Topic::Activities, 1, 30).await.unwrap();
            assert_eq!(poison.len(), 1);
        }

        let store = EmbeddedStore::open(&path)
            .unwrap()
            .with_clock(clock.clone());
        let expected = lead("lead-1", "dana@quillfield.example.com", 1);
        assert_eq!(
            store.lead(&expected.id).await.unwrap(),
            Some(expected.clone())
        );
        let email = expected.email.as_ref().unwrap();
        assert_eq!(
            store.lead_by_email(email).await.unwrap(),
            Some(expected.clone())
        );
        let t = transition("lead-1", 1, Stage::New);
        assert_eq!(
            store.transitions(&expected.id).await.unwrap(),
            vec![t.clone()]
        );
        for d in counter_deltas(&t) {
            assert_eq!(store.counter(&d.key).await.unwrap(), 1);
        }
        assert_eq!(
            store.get("sla_clock", "lead-1").await.unwrap(),
            Some(doc("lead-1"))
        );

        // The claim survived: the redelivered webhook is a duplicate with its outbox.
        let again = store.commit(webhook_commit()).await.unwrap();
        let outbox = webhook_commit().with_journey_events().outbox;
        assert_eq!(
            again,
            CommitOutcome::Duplicate {
                key: "webhook:typeform:evt-1".into(),
                outbox
            }
        );

        // Queued messages survived, and so did the in-flight one's visibility and count.
        let mqls = store.receive(Topic::Mqls, 10, 30).await.unwrap();
        assert_eq!(mqls.len(), 1);
        assert_eq!(mqls[0].id, "mql-1");
        assert!(store
            .receive(Topic::Activities, 10, 30)
            .await
            .unwrap()
            .is_empty());
        clock.advance(Duration::seconds(31));
        let redelivered = store.receive(Topic::Activities, 10, 30).await.unwrap();
        assert_eq!(redelivered.len(), 1);
        assert_eq!(
            (redelivered[0].id.as_str(), redelivered[0].receive_count),
            ("act-1", 2)
        );
    }

    #[tokio::test]
    async fn a_version_1_file_gets_effective_times_from_its_bodies() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journey.db");
        EmbeddedStore::open(&path)
            .unwrap()
            .commit(webhook_commit())
            .await
            .unwrap();
        // Take the file back to schema 1: no effective_at column, no index, nor what later
        // migrations added.
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(&format!(
            "{UNDO_VERSION_3} DROP INDEX transitions_effective; \
             ALTER TABLE transitions DROP COLUMN effective_at; \
             PRAGMA user_version = 1;",
        ))
        .unwrap();
        drop(conn);

        let store = EmbeddedStore::open(&path).unwrap();
        let page = store
            .transitions_effective(at(60), at(61), None, 10)
            .await
            .unwrap();

        assert_eq!(page.items, vec![transition("lead-1", 1, Stage::New)]);
    }

    /// Takes a file from schema 3 back to 2: no open-owner columns, no index.
    const UNDO_VERSION_3: &str = "DROP INDEX leads_open_by_owner; \
         ALTER TABLE leads DROP COLUMN open_owner; \
         ALTER TABLE leads DROP COLUMN updated_at;";

    #[tokio::test]
    async fn a_version_2_file_lists_each_reps_open_leads_from_the_bodies() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journey.db");
        let store = EmbeddedStore::open(&path).unwrap();
        let mut open = lead("lead-open", "open@quillfield.example.com", 1);
        (open.owner, open.journey.stage) = (Some(RepId::new("ana")), Some(Stage::Sal));
        let mut won = lead("lead-won", "won@quillfield.example.com", 1);
        (won.owner, won.journey.stage) = (Some(RepId::new("ana")), Some(Stage::Won));
        for l in [&open, &won] {
            store.commit(create(l)).await.unwrap();
        }
        drop(store);
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(&format!("{UNDO_VERSION_3} PRAGMA user_version = 2;"))
            .unwrap();
        drop(conn);

        let store = EmbeddedStore::open(&path).unwrap();
        let listed = store
            .open_leads_of(&RepId::new("ana"), None, 10)
            .await
            .unwrap();

        assert_eq!(listed.items, vec![open]);
    }

    #[tokio::test]
    async fn tables_are_plain_sql_and_json() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journey.db");
        let store = EmbeddedStore::open(&path).unwrap();
        store.commit(webhook_commit()).await.unwrap();
        drop(store);

        let conn = Connection::open(&path).unwrap();
        let version: u32 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, 3);
        let mode: String = conn
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");

        let (email, version): (String, i64) = conn
            .query_row(
                "SELECT json_extract(body, '$.email'), version FROM leads WHERE id = 'lead-1'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!(
            (email.as_str(), version),
            ("dana@quillfield.example.com", 1)
        );
        let to: String = conn
            .query_row(
                "SELECT json_extract(body, '$.to') FROM transitions",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(to, "new");
        let all: i64 = conn
            .query_row(
                "SELECT value FROM counters WHERE stage = 'new' AND dimension = 'all'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(all, 1);
        let queued: String = conn
            .query_row("SELECT topic || ':' || id FROM queue", [], |r| r.get(0))
            .unwrap();
        assert_eq!(queued, "activities:act-1");
    }

    #[test]
    fn a_file_from_a_newer_build_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journey.db");
        drop(EmbeddedStore::open(&path).unwrap());
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
        drop(conn);

        match EmbeddedStore::open(&path) {
            Err(OpenError::TooNew { found, supported }) => assert_eq!((found, supported), (99, 3)),
            other => panic!("expected TooNew, got {other:?}"),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_stores_on_one_file_still_have_one_winner() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journey.db");
        let a = EmbeddedStore::open(&path).unwrap();
        let b = EmbeddedStore::open(&path).unwrap();
        let v1 = lead("lead-1", "dana@quillfield.example.com", 1);
        a.commit(create(&v1)).await.unwrap();

        let update = |score: f64| {
            let mut v2 = v1.clone();
            v2.version = 2;
            v2.score = Some(score);
            Commit {
                lead: Some(LeadWrite {
                    lead: v2,
                    expect: Expect::Version(1),
                    new_identities: Vec::new(),
                }),
                ..Commit::default()
            }
        };
        let (ra, rb) = tokio::join!(a.commit(update(1.0)), b.commit(update(2.0)));
        let mut outcomes = [ra.unwrap(), rb.unwrap()];
        outcomes.sort_by_key(|o| matches!(o, CommitOutcome::Conflict { .. }));
        assert_eq!(outcomes[0], CommitOutcome::Committed);
        assert!(matches!(outcomes[1], CommitOutcome::Conflict { .. }));
        let stored = b.lead(&v1.id).await.unwrap().unwrap();
        assert_eq!(stored.version, 2);
    }

    #[tokio::test]
    async fn bad_requests_are_refused_as_invalid() {
        let store = EmbeddedStore::in_memory().unwrap();
        let invalid = |r: Result<_, StoreError>| matches!(r, Err(StoreError::Invalid(_)));

        assert!(invalid(store.leads(None, 0).await.map(|_| ())));
        assert!(invalid(
            store.leads(Some("garbage".into()), 10).await.map(|_| ())
        ));
        assert!(invalid(
            store.list("c", "", Some("!!".into()), 10).await.map(|_| ())
        ));
        let window = store
            .transitions_recorded(at(0), at(1), Some("x".into()), 10)
            .await;
        assert!(invalid(window.map(|_| ())));

        // A lead whose version does not follow its condition is a bug in the caller.
        let skipped = lead("lead-1", "a@b.example", 3);
        assert!(invalid(store.commit(create(&skipped)).await.map(|_| ())));

        let mut big = message(Topic::Activities, "big");
        big.body = "x".repeat(MAX_BODY_BYTES + 1);
        let refused = store.send(&[message(Topic::Activities, "ok"), big]).await;
        assert!(matches!(refused, Err(QueueError::Invalid(_))));
        assert!(store
            .receive(Topic::Activities, 10, 30)
            .await
            .unwrap()
            .is_empty());
    }

    #[tokio::test]
    async fn a_stale_receipt_neither_acks_nor_fails() {
        let clock = conformance::manual_clock();
        let store = EmbeddedStore::in_memory()
            .unwrap()
            .with_clock(clock.clone());
        store.send(&[message(Topic::Mqls, "m")]).await.unwrap();
        let first = store.receive(Topic::Mqls, 1, 10).await.unwrap();
        clock.advance(Duration::seconds(11));
        let second = store.receive(Topic::Mqls, 1, 10).await.unwrap();

        store.ack(Topic::Mqls, &first[0].receipt).await.unwrap();
        store
            .fail(Topic::Mqls, &first[0].receipt, "late")
            .await
            .unwrap();
        clock.advance(Duration::seconds(11));
        let third = store.receive(Topic::Mqls, 1, 10).await.unwrap();
        assert_eq!(third.len(), 1, "the stale ack deleted the message");
        assert_eq!(third[0].receive_count, 3);
        assert_ne!(third[0].receipt, second[0].receipt);
    }

    #[tokio::test]
    async fn a_message_that_times_out_on_its_last_receive_is_dead_lettered() {
        let clock = conformance::manual_clock();
        let config = QueueConfig {
            max_receives: 2,
            ..QueueConfig::default()
        };
        let store = EmbeddedStore::in_memory()
            .unwrap()
            .with_clock(clock.clone())
            .with_queue_config(config);
        store.send(&[message(Topic::Mqls, "crashy")]).await.unwrap();

        for _ in 0..2 {
            assert_eq!(store.receive(Topic::Mqls, 1, 10).await.unwrap().len(), 1);
            clock.advance(Duration::seconds(11));
        }
        assert!(store.receive(Topic::Mqls, 1, 10).await.unwrap().is_empty());
        let dead = store.dead_letters(Topic::Mqls).await.unwrap();
        assert_eq!(dead.len(), 1);
        assert_eq!((dead[0].id.as_str(), dead[0].receive_count), ("crashy", 2));
    }

    #[tokio::test]
    async fn fail_backs_off_before_showing_the_message_again() {
        let clock = conformance::manual_clock();
        let config = QueueConfig {
            max_receives: 5,
            first_backoff_seconds: 10,
            max_backoff_seconds: 15,
        };
        let store = EmbeddedStore::in_memory()
            .unwrap()
            .with_clock(clock.clone())
            .with_queue_config(config);
        store.send(&[message(Topic::Mqls, "m")]).await.unwrap();

        // Back-offs expected from the config: 10 s after the first receive, then 20 s capped
        // to 15 s after the second.
        for wait in [10, 15] {
            let got = store.receive(Topic::Mqls, 1, 300).await.unwrap();
            store
                .fail(Topic::Mqls, &got[0].receipt, "boom")
                .await
                .unwrap();
            clock.advance(Duration::seconds(wait - 1));
            assert!(store.receive(Topic::Mqls, 1, 300).await.unwrap().is_empty());
            clock.advance(Duration::seconds(1));
        }
        assert_eq!(store.receive(Topic::Mqls, 1, 300).await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn purge_removes_only_expired_rows() {
        let clock = conformance::manual_clock();
        let store = EmbeddedStore::in_memory()
            .unwrap()
            .with_clock(clock.clone());
        let claim = |key: &str, expires_at| Claim {
            key: key.into(),
            expires_at,
        };
        let commit = Commit {
            claims: vec![claim("old", Some(at(-1))), claim("live", Some(at(3600)))],
            ..Commit::default()
        };
        store.commit(commit).await.unwrap();
        assert_eq!(store.purge_expired().await.unwrap(), 1);

        let live = store.commit(Commit::claiming("live", None)).await.unwrap();
        assert!(matches!(live, CommitOutcome::Duplicate { .. }));
    }
}

// ---------------------------------------------------------------------------------------
// Pagination against a model: whatever the data and the page size, walking the pages gives
// exactly what filtering and sorting everything at once gives.

mod pagination {
    use embedded::EmbeddedStore;
    use lifecycle::{Actor, CauseId, LeadId, Stage, Timestamp, Transition};
    use ports::{Commit, Document, DocumentStore, DocumentWrite, Expect, JourneyStore};
    use proptest::prelude::*;
    use std::collections::{BTreeMap, BTreeSet};

    /// More pages than the largest generated data set has items.
    const MAX_WALK: usize = 30;

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f)
    }

    fn at(secs: i64) -> Timestamp {
        chrono::DateTime::from_timestamp(1_893_456_000 + secs, 0).unwrap()
    }

    fn put(key: &str) -> DocumentWrite {
        DocumentWrite::Put {
            doc: Document {
                collection: "c".into(),
                key: key.into(),
                version: 1,
                index: None,
                body: serde_json::json!({}),
                expires_at: None,
            },
            expect: Expect::Absent,
        }
    }

    fn transition(lead: &str, seq: u32, recorded: i64) -> Transition {
        Transition {
            lead_id: LeadId::new(lead),
            seq,
            cycle: 1,
            from: None,
            to: Stage::New,
            effective_at: at(recorded),
            recorded_at: at(recorded),
            actor: Actor::System {
                component: "test".into(),
            },
            reason: None,
            cause: CauseId::new(format!("{lead}/{seq}")),
            skipped: Vec::new(),
            late: false,
            dims: Default::default(),
        }
    }

    async fn walk_list(store: &EmbeddedStore, prefix: &str, limit: usize) -> Vec<String> {
        let (mut keys, mut cursor) = (Vec::new(), None);
        // More pages than items means the cursor does not advance.
        for _ in 0..=MAX_WALK {
            let page = store.list("c", prefix, cursor, limit).await.unwrap();
            assert!(page.items.len() <= limit);
            keys.extend(page.items.into_iter().map(|d| d.key));
            cursor = page.next;
            if cursor.is_none() {
                return keys;
            }
        }
        panic!("the listing did not end");
    }

    async fn walk_window(
        store: &EmbeddedStore,
        (from, to): (i64, i64),
        limit: usize,
    ) -> Vec<(i64, String, u32)> {
        let (mut seen, mut cursor) = (Vec::new(), None);
        for _ in 0..=MAX_WALK {
            let page = store
                .transitions_recorded(at(from), at(to), cursor, limit)
                .await
                .unwrap();
            assert!(page.items.len() <= limit);
            seen.extend(page.items.into_iter().map(|t| {
                let secs = (t.recorded_at - at(0)).num_seconds();
                (secs, t.lead_id.to_string(), t.seq)
            }));
            cursor = page.next;
            if cursor.is_none() {
                return seen;
            }
        }
        panic!("the window did not end");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        #[test]
        fn listing_by_prefix_walks_the_sorted_matches(
            keys in prop::collection::btree_set("[ab/%_]{1,4}", 0..25),
            prefix in "[ab/%_]{0,2}",
            limit in 1usize..6,
        ) {
            let expected: Vec<String> =
                keys.iter().filter(|k| k.starts_with(&prefix)).cloned().collect();
            let got = block_on(async {
                let store = EmbeddedStore::in_memory().unwrap();
                let commit = Commit {
                    documents: keys.iter().map(|k| put(k)).collect(),
                    ..Commit::default()
                };
                store.commit(commit).await.unwrap();
                walk_list(&store, &prefix, limit).await
            });
            prop_assert_eq!(got, expected);
        }

        #[test]
        fn a_recorded_window_walks_the_sorted_transitions_inside_it(
            times in prop::collection::vec((0usize..4, 0i64..20), 0..30),
            from in 0i64..20,
            span in 0i64..20,
            limit in 1usize..6,
        ) {
            // Give each lead's transitions consecutive seqs, in the generated order.
            let mut next_seq: BTreeMap<usize, u32> = BTreeMap::new();
            let transitions: Vec<Transition> = times
                .iter()
                .map(|&(lead, secs)| {
                    let seq = next_seq.entry(lead).or_insert(0);
                    *seq += 1;
                    transition(&format!("lead-{lead}"), *seq, secs)
                })
                .collect();
            let to = from + span;
            let expected: Vec<(i64, String, u32)> = transitions
                .iter()
                .map(|t| ((t.recorded_at - at(0)).num_seconds(), t.lead_id.to_string(), t.seq))
                .filter(|(secs, _, _)| (from..to).contains(secs))
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();

            let got = block_on(async {
                let store = EmbeddedStore::in_memory().unwrap();
                let commit = Commit { transitions, ..Commit::default() };
                store.commit(commit).await.unwrap();
                walk_window(&store, (from, to), limit).await
            });
            prop_assert_eq!(got, expected);
        }
    }
}
