//! A CRM export with broken rows: each is reported with its line number and the rest import.

use chrono::{TimeZone, Utc};
use embedded::EmbeddedStore;
use journey_e2e::fixture;
use journey_local::import::{
    import,
    mapping::Mapping,
    rows::{Problem, RowError, MAX_FIELD_BYTES, MAX_ID_BYTES},
};
use lifecycle::{LeadId, Stage, Timestamp};
use ports::{Clock, JourneyStore, ManualClock};
use std::sync::Mutex;

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

fn at(now: Timestamp) -> ManualClock {
    ManualClock::new(now)
}

#[tokio::test]
async fn bad_rows_are_reported_by_line_and_the_rest_are_imported() {
    bad_rows_of("bad-rows.csv").await;
}

/// Regression: with `\r\n` line ends the csv crate numbered every record one line short, and
/// with bare `\r` every record was "line 1". Most CRM exports end lines with `\r\n`.
#[tokio::test]
async fn crlf_and_cr_files_report_the_same_lines_as_lf() {
    bad_rows_of("bad-rows-crlf.csv").await;
    bad_rows_of("bad-rows-cr.csv").await;
}

async fn bad_rows_of(name: &str) {
    let store = EmbeddedStore::in_memory().unwrap();
    let now = Utc.with_ymd_and_hms(2025, 2, 1, 0, 0, 0).unwrap();
    let file = std::fs::File::open(fixture(name)).unwrap();

    let summary = import(&store, file, &mapping(), &at(now)).await.unwrap();

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
    import(&store, read(), &mapping(), &at(now)).await.unwrap();
    let before = store.transitions(&LeadId::new("L1")).await.unwrap();

    let again = import(
        &store,
        read(),
        &mapping(),
        &at(now + chrono::Duration::hours(1)),
    )
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
    let summary = import(&store, csv.as_bytes(), &mapping, &at(now))
        .await
        .unwrap();
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

/// Regression: a row dated 2099 was imported, and every report's default period then ran to
/// 2099. The importer's clock says 2025-04-01 00:00 UTC; a day's slack covers time zones.
#[tokio::test]
async fn a_date_in_the_future_rejects_the_row_and_the_rest_are_imported() {
    let csv = "id,created,mql_date,sql_date,stage,stage_date\n\
               TODAY,2025-03-31,2025-04-01,,,\n\
               FUTURE,2099-01-01,,,,\n\
               LATER,2025-03-10,2025-03-12,2025-04-03,,\n";

    let (store, summary) = import_dated(csv).await;

    assert_eq!(summary.created, 1, "{:?}", summary.errors);
    assert_eq!(
        error_at(&summary.errors, 3),
        &Problem::FutureDate {
            column: "created".into(),
            at: Utc.with_ymd_and_hms(2099, 1, 1, 0, 0, 0).unwrap(),
        }
    );
    assert_eq!(
        error_at(&summary.errors, 4),
        &Problem::FutureDate {
            column: "sql_date".into(),
            at: Utc.with_ymd_and_hms(2025, 4, 3, 0, 0, 0).unwrap(),
        }
    );
    assert!(summary.errors[0].to_string().contains("in the future"));
    assert!(store.lead(&LeadId::new("TODAY")).await.unwrap().is_some());
}

#[test]
fn an_invalid_date_format_in_the_mapping_is_refused_at_parse() {
    let text = DATED.replace(r#"["%Y-%m-%d"]"#, r#"["%Y-%m-%d", "%Q"]"#);

    let err = Mapping::parse(&text).unwrap_err();

    assert!(err.to_string().contains("%Q"), "{err}");
}

/// Regression: a quote opened and never closed swallowed every later line into one record,
/// reported as "line 2: 4 fields"; lines 3 and 4 vanished without being named.
#[tokio::test]
async fn an_unclosed_quote_names_every_line_it_swallowed() {
    let csv = "id,created,mql_date,sql_date,stage,stage_date\n\
               OK,2025-03-10,,,,\n\
               Q,2025-03-10,\"2025-03-12,,,\n\
               R,2025-03-10,,,,\n\
               S,2025-03-10,,,,\n";

    let (_, summary) = import_dated(csv).await;

    assert_eq!((summary.rows, summary.created), (2, 1));
    let e = &summary.errors[0];
    assert_eq!((e.line, e.last_line), (3, 5), "{e}");
    assert!(matches!(&e.problem, Problem::Unreadable(why) if why.contains("never closed")));
    assert!(e.to_string().starts_with("lines 3–5: "), "{e}");
}

/// A record with the wrong number of fields that spans lines names its first and last line.
#[tokio::test]
async fn a_broken_record_across_lines_names_both_ends() {
    let csv = "id,created,mql_date,sql_date,stage,stage_date\r\n\
               A,2025-03-10,,,,,\"two\r\nlines\"\r\n\
               B,2025-03-10,,,,\r\n";

    let (_, summary) = import_dated(csv).await;

    assert_eq!(summary.created, 1);
    let e = &summary.errors[0];
    assert_eq!((e.line, e.last_line), (2, 3), "{e}");
    assert!(matches!(&e.problem, Problem::Unreadable(why) if why.contains("7 fields")));
}

/// Regression: a 5 MB lead id and a 50 MB source were imported and copied into every
/// transition (56 s, 414 MB). A mapped value longer than any real one rejects its row.
#[tokio::test]
async fn an_oversized_value_rejects_its_row_by_line_without_repeating_it() {
    let long_id = "x".repeat(MAX_ID_BYTES + 1);
    let long_stage = "y".repeat(MAX_FIELD_BYTES + 1);
    let csv = format!(
        "id,created,mql_date,sql_date,stage,stage_date\n\
         {long_id},2025-03-10,,,,\n\
         OK,2025-03-10,,,,\n\
         B,2025-03-10,,,{long_stage},\n"
    );

    let (_, summary) = import_dated(&csv).await;

    assert_eq!(summary.created, 1, "{:?}", summary.errors);
    assert_eq!(
        error_at(&summary.errors, 2),
        &Problem::TooLong {
            column: "id".into(),
            max: MAX_ID_BYTES
        }
    );
    assert_eq!(
        error_at(&summary.errors, 4),
        &Problem::TooLong {
            column: "stage".into(),
            max: MAX_FIELD_BYTES
        }
    );
    let shown: String = summary.errors.iter().map(|e| e.to_string()).collect();
    assert!(
        !shown.contains("xxxx") && !shown.contains("yyyy"),
        "{shown}"
    );
}

/// Regression: an empty file said "column id not in header".
#[test]
fn an_empty_file_is_reported_as_empty() {
    let m = Mapping::parse(DATED).unwrap();

    for empty in ["", "\n", "\r\n  "] {
        let err = journey_local::import::rows::parse(empty.as_bytes(), &m).unwrap_err();
        assert_eq!(err.to_string(), "the file is empty");
    }
}

/// A byte-order mark before the header (as spreadsheets write it) is not part of the first
/// column's name.
#[tokio::test]
async fn a_byte_order_mark_does_not_hide_the_first_column() {
    let (_, summary) =
        import_dated("\u{feff}id,created,mql_date,sql_date,stage,stage_date\nA,2025-03-10,,,,\n")
            .await;

    assert_eq!(summary.created, 1, "{:?}", summary.errors);
}

const UPDATE: &str = r#"
batch = "deals"
mode = "update"
date_formats = ["%Y-%m-%d"]

[columns]
lead_id = "id"

[stage_dates]
won = "won_date"
"#;

/// Regression: update mode took a won date two days before the lead became an MQL (which create
/// mode refuses); the report then showed a one-day stay in `won` and lost the MQL stay.
#[tokio::test]
async fn update_mode_refuses_a_date_before_the_leads_earlier_stage() {
    let (store, _) = import_dated(
        "id,created,mql_date,sql_date,stage,stage_date\n\
         A,2025-03-08,2025-03-08,,,\n\
         B,2025-03-08,2025-03-08,,,\n",
    )
    .await;
    let update = Mapping::parse(UPDATE).unwrap();
    let now = Utc.with_ymd_and_hms(2025, 4, 2, 0, 0, 0).unwrap();
    let deals = "id,won_date\nA,2025-03-06\nB,2025-03-20\n";

    let summary = import(&store, deals.as_bytes(), &update, &at(now))
        .await
        .unwrap();

    assert_eq!(summary.updated, 1, "{:?}", summary.errors);
    assert_eq!(
        error_at(&summary.errors, 2),
        &Problem::OutOfOrderWithLead {
            column: "won_date".into(),
            stage: Stage::Mql,
            entered_at: Utc.with_ymd_and_hms(2025, 3, 8, 0, 0, 0).unwrap(),
        }
    );
    let a = store.lead(&LeadId::new("A")).await.unwrap().unwrap();
    assert_eq!(
        a.stage(),
        Stage::Mql,
        "nothing of the refused row is written"
    );
}

/// `dates_out_of_order = "clamp"` imports such a row with the date moved to the earlier
/// stage's, lists it as adjusted, and keeps every stay in order.
#[tokio::test]
async fn clamped_dates_are_imported_in_order_and_listed() {
    let (store, _) =
        import_dated("id,created,mql_date,sql_date,stage,stage_date\nA,2025-03-08,2025-03-08,,,\n")
            .await;
    let clamp = Mapping::parse(&UPDATE.replace(
        "mode = \"update\"",
        "mode = \"update\"\ndates_out_of_order = \"clamp\"",
    ))
    .unwrap();
    let now = Utc.with_ymd_and_hms(2025, 4, 2, 0, 0, 0).unwrap();

    let summary = import(
        &store,
        "id,won_date\nA,2025-03-06\n".as_bytes(),
        &clamp,
        &at(now),
    )
    .await
    .unwrap();

    assert_eq!((summary.updated, summary.errors.len()), (1, 0));
    let mql_at = Utc.with_ymd_and_hms(2025, 3, 8, 0, 0, 0).unwrap();
    let adjusted = &summary.adjusted[0];
    assert_eq!(
        (adjusted.line, adjusted.stage, adjusted.to),
        (2, Stage::Mql, mql_at)
    );
    assert!(adjusted.to_string().contains("won_date"), "{adjusted}");
    let history = store.transitions(&LeadId::new("A")).await.unwrap();
    let won = history.iter().find(|t| t.to == Stage::Won).unwrap();
    assert_eq!(won.effective_at, mql_at);
}

/// A clock that moves a minute every time it is read.
struct Ticking(Mutex<Timestamp>);

impl Clock for Ticking {
    fn now(&self) -> Timestamp {
        let mut now = self.0.lock().unwrap();
        *now += chrono::Duration::minutes(1);
        *now
    }
}

/// Regression (suspected): every transition of an import was stamped with the import's start.
/// An import longer than the rollup's settling time, running while a rollup moved its
/// watermark, wrote transitions below the watermark that no rollup would read. Each lead's
/// commit is stamped when it is made.
#[tokio::test]
async fn each_leads_transitions_are_stamped_when_its_commit_is_made() {
    let store = EmbeddedStore::in_memory().unwrap();
    let start = Utc.with_ymd_and_hms(2025, 4, 1, 0, 0, 0).unwrap();
    let clock = Ticking(Mutex::new(start));
    let csv = "id,created,mql_date,sql_date,stage,stage_date\n\
               A,2025-03-10,,,,\nB,2025-03-10,,,,\nC,2025-03-10,,,,\n";

    import(
        &store,
        csv.as_bytes(),
        &Mapping::parse(DATED).unwrap(),
        &clock,
    )
    .await
    .unwrap();

    let mut stamps = Vec::new();
    for id in ["A", "B", "C"] {
        let history = store.transitions(&LeadId::new(id)).await.unwrap();
        stamps.push(history[0].recorded_at);
    }
    assert!(
        stamps[0] > start && stamps[0] < stamps[1] && stamps[1] < stamps[2],
        "{stamps:?}"
    );
}
