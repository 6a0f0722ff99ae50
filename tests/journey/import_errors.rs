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

/// A mapping with a created date, per-stage dates for mql and sql, and a stage column.
const DATED: &str = r#"
batch = "dated"
date_formats = ["%Y-%m-%d"]

[columns]
lead_id = "id"
created_at = "created"
stage = "stage"
stage_date = "stage_date"

[stage_dates]
mql = "mql_date"
sql = "sql_date"
"#;

async fn import_dated(csv: &str) -> (EmbeddedStore, journey_local::import::Summary) {
    let store = EmbeddedStore::in_memory().unwrap();
    let now = Utc.with_ymd_and_hms(2025, 4, 1, 0, 0, 0).unwrap();
    let mapping = Mapping::parse(DATED).unwrap();
    let summary = import(&store, csv.as_bytes(), &mapping, now).await.unwrap();
    (store, summary)
}

#[tokio::test]
async fn stage_dates_going_backwards_along_the_funnel_reject_the_row_naming_both_columns() {
    let csv = "id,created,mql_date,sql_date,stage,stage_date\n\
               OK,2025-03-10,2025-03-12,2025-03-14,,\n\
               BACK,2025-03-10,2025-03-12,2025-03-01,,\n";

    let (store, summary) = import_dated(csv).await;

    assert_eq!(summary.created, 1, "{:?}", summary.errors);
    assert_eq!(
        error_at(&summary.errors, 3),
        &Problem::DatesOutOfOrder {
            column: "sql_date".into(),
            before: "mql_date".into()
        }
    );
    let shown = summary.errors[0].to_string();
    assert!(
        shown.contains("line 3") && shown.contains("sql_date") && shown.contains("mql_date"),
        "{shown}"
    );
    assert!(store.lead(&LeadId::new("BACK")).await.unwrap().is_none());
    assert_eq!(
        store
            .lead(&LeadId::new("OK"))
            .await
            .unwrap()
            .unwrap()
            .stage(),
        Stage::Sql
    );
}

#[tokio::test]
async fn a_stage_dated_before_the_created_date_is_rejected() {
    let csv = "id,created,mql_date,sql_date,stage,stage_date\n\
               EARLY,2025-03-10,2025-03-02,,,\n\
               DQ,2025-03-10,,,disqualified,2025-03-09\n";

    let (_, summary) = import_dated(csv).await;

    assert_eq!(summary.created, 0, "{:?}", summary.errors);
    assert_eq!(
        error_at(&summary.errors, 2),
        &Problem::DatesOutOfOrder {
            column: "mql_date".into(),
            before: "created".into()
        }
    );
    assert_eq!(
        error_at(&summary.errors, 3),
        &Problem::DatesOutOfOrder {
            column: "stage_date".into(),
            before: "created".into()
        }
    );
}

#[tokio::test]
async fn the_stage_date_column_disagreeing_with_the_per_stage_column_rejects_the_row() {
    let csv = "id,created,mql_date,sql_date,stage,stage_date\n\
               SAME,2025-03-10,2025-03-12,,mql,2025-03-12\n\
               DIFF,2025-03-10,2025-03-12,,mql,2025-03-13\n";

    let (store, summary) = import_dated(csv).await;

    assert_eq!(summary.created, 1, "{:?}", summary.errors);
    assert_eq!(
        error_at(&summary.errors, 3),
        &Problem::ConflictingDates {
            column: "stage_date".into(),
            other: "mql_date".into()
        }
    );
    assert_eq!(
        store.transitions(&LeadId::new("SAME")).await.unwrap().len(),
        2,
        "new and mql, once each"
    );
}

#[test]
fn an_invalid_date_format_in_the_mapping_is_refused_at_parse() {
    let text = DATED.replace(r#"["%Y-%m-%d"]"#, r#"["%Y-%m-%d", "%Q"]"#);

    let err = Mapping::parse(&text).unwrap_err();

    assert!(err.to_string().contains("%Q"), "{err}");
}
