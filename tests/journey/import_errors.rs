//! A CRM export with broken rows: each is reported with its line number and the rest import.

use chrono::{TimeZone, Utc};
use embedded::EmbeddedStore;
use journey_e2e::fixture;
use journey_local::import::{
    import,
    mapping::Mapping,
    rows::{Problem, RowError},
};
use lifecycle::{LeadId, Stage};
use ports::JourneyStore;

fn mapping() -> Mapping {
    Mapping::parse(&std::fs::read_to_string(fixture("bad-rows.toml")).unwrap()).unwrap()
}

fn error_at(errors: &[RowError], line: u64) -> &Problem {
    &errors
        .iter()
        .find(|e| e.line == line)
        .unwrap_or_else(|| panic!("no error on line {line}: {errors:?}"))
        .problem
}

#[tokio::test]
async fn bad_rows_are_reported_by_line_and_the_rest_are_imported() {
    let store = EmbeddedStore::in_memory().unwrap();
    let now = Utc.with_ymd_and_hms(2025, 2, 1, 0, 0, 0).unwrap();
    let file = std::fs::File::open(fixture("bad-rows.csv")).unwrap();

    let summary = import(&store, file, &mapping(), now).await.unwrap();

    // Lines as `cat -n` shows them: the header is line 1 and line 3's note spans two lines.
    assert_eq!(summary.created, 4, "{:?}", summary.errors);
    assert_eq!(summary.errors.len(), 6, "{:?}", summary.errors);
    assert_eq!(
        error_at(&summary.errors, 5),
        &Problem::MissingDate("created".into())
    );
    assert!(
        matches!(error_at(&summary.errors, 6), Problem::BadDate { value, .. } if value == "2025-13-40")
    );
    assert_eq!(
        error_at(&summary.errors, 7),
        &Problem::UnknownStage("Opportunity".into())
    );
    assert_eq!(
        error_at(&summary.errors, 8),
        &Problem::DuplicateLeadId { first_line: 2 }
    );
    assert_eq!(
        error_at(&summary.errors, 9),
        &Problem::MissingDate("stage_date".into())
    );
    assert!(matches!(
        error_at(&summary.errors, 11),
        Problem::Unreadable(_)
    ));

    let l2 = store
        .lead(&LeadId::new("L2"))
        .await
        .unwrap()
        .expect("L2 imported");
    assert_eq!(l2.stage(), Stage::Mql);
    let l7 = store
        .lead(&LeadId::new("L7"))
        .await
        .unwrap()
        .expect("L7 imported");
    assert_eq!(l7.stage(), Stage::Sal);
    assert!(
        store.lead(&LeadId::new("L5")).await.unwrap().is_none(),
        "a rejected row writes nothing"
    );
}

#[tokio::test]
async fn importing_the_same_batch_twice_changes_nothing() {
    let store = EmbeddedStore::in_memory().unwrap();
    let now = Utc.with_ymd_and_hms(2025, 2, 1, 0, 0, 0).unwrap();
    let read = || std::fs::File::open(fixture("bad-rows.csv")).unwrap();
    import(&store, read(), &mapping(), now).await.unwrap();
    let before = store.transitions(&LeadId::new("L1")).await.unwrap();

    let again = import(&store, read(), &mapping(), now + chrono::Duration::hours(1))
        .await
        .unwrap();

    assert_eq!((again.created, again.unchanged), (0, 4));
    assert_eq!(store.transitions(&LeadId::new("L1")).await.unwrap(), before);
}

#[test]
fn a_mapping_naming_a_missing_column_is_refused_before_any_row() {
    let mut m = mapping();
    m.columns.source = Some("utm_source".into());
    let file = std::fs::File::open(fixture("bad-rows.csv")).unwrap();

    let err = journey_local::import::rows::parse(file, &m).unwrap_err();

    assert!(err.to_string().contains("utm_source"), "{err}");
}
