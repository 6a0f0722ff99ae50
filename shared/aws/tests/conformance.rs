//! The AWS adapters against the port conformance suite (`ports::conformance`), on the moto
//! emulator: the same cases the embedded store passes, one test per case (each on its own
//! table and queues) and the whole suite once on one table.
//!
//! Ignored by default (they need moto): run `infra/scripts/test-aws.sh`. SQS has no simulated
//! clock, so the queue cases wait in real time (about 40 s in all, in parallel).

mod support;

use ports::conformance::{RealTime, Subject};
use std::sync::Arc;
use support::{Env, MAX_BACKOFF_SECONDS, MAX_RECEIVES};

/// The DynamoDB store and the SQS queues seen through every port.
fn subject(env: &Env, namespace: &str) -> Subject {
    let queue = Arc::new(env.queue.clone());
    let store = Arc::new(env.store.clone());
    Subject {
        journey: store.clone(),
        documents: store,
        queue: queue.clone(),
        consumer: queue,
        time: Arc::new(RealTime),
        namespace: namespace.to_owned(),
        max_receives: MAX_RECEIVES,
        // `fail` hides a message for its back-off, at most this long in the test queues.
        redelivery_within: chrono::Duration::seconds(i64::from(MAX_BACKOFF_SECONDS)),
    }
}

macro_rules! conformance_cases {
    ($($case:ident),* $(,)?) => {
        mod case {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                #[ignore = "needs moto: run infra/scripts/test-aws.sh"]
                async fn $case() {
                    let env = super::Env::new().await;
                    ports::conformance::$case(&super::subject(&env, "t")).await;
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
#[ignore = "needs moto: run infra/scripts/test-aws.sh"]
async fn the_whole_suite_passes_twice_on_one_table_with_other_namespaces() {
    let env = Env::new().await;
    ports::conformance::run_all(&subject(&env, "first")).await;
    ports::conformance::run_all(&subject(&env, "second")).await;
}
