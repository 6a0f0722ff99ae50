//! Reading a CSV export into rows of lead facts, with a line-numbered reason for every row that
//! cannot be read. Nothing here touches the store.

use super::mapping::{Mapping, MappingError, Mode};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use lifecycle::{Email, Stage, Timestamp};
use std::{collections::HashMap, fmt, io::Read};

/// One readable row.
#[derive(Debug, Clone)]
pub struct Row {
    /// 1-based line number of the record in the file (the header is line 1).
    pub line: u64,
    /// The lead id.
    pub lead_id: String,
    /// Normalised e-mail.
    pub email: Option<Email>,
    /// When the lead was created.
    pub created_at: Option<Timestamp>,
    /// Optional text fields by mapping name (`source`, `campaign`, `owner`, …).
    pub fields: HashMap<&'static str, String>,
    /// Stages entered, with their dates, in funnel order.
    pub stages: Vec<(Stage, Timestamp)>,
}

impl Row {
    /// A text field, if present and not blank.
    pub fn field(&self, name: &str) -> Option<String> {
        self.fields.get(name).cloned()
    }
}

/// Why a row was not imported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The CSV record itself is broken (wrong number of fields, bad quoting, not UTF-8).
    Unreadable(String),
    /// The lead id is blank.
    MissingLeadId,
    /// A date the row needs is blank.
    MissingDate(String),
    /// A date could not be parsed with any configured format.
    BadDate {
        /// The column.
        column: String,
        /// The text found.
        value: String,
    },
    /// The stage column holds a name that is not a stage or an alias.
    UnknownStage(String),
    /// The e-mail is not an address.
    BadEmail,
    /// The lead id appeared on an earlier line of the same file.
    DuplicateLeadId {
        /// Where it was first seen.
        first_line: u64,
    },
    /// (update mode) No lead with this id exists.
    UnknownLead,
    /// The store refused the lead's history (e.g. disqualified after won).
    Rejected(String),
    /// The e-mail already belongs to another lead.
    EmailTaken,
    /// A stage's date precedes the date of a stage before it along the funnel (or the created
    /// date): the export's dates cannot all be true.
    DatesOutOfOrder {
        /// The column with the later stage's (too early) date.
        column: String,
        /// The column with the earlier stage's date it precedes.
        before: String,
    },
    /// Two columns give the same stage different dates.
    ConflictingDates {
        /// The stage-date column of the `stage` column's stage.
        column: String,
        /// The per-stage date column of the same stage.
        other: String,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Unreadable(why) => write!(f, "unreadable record: {why}"),
            Problem::MissingLeadId => f.write_str("missing lead id"),
            Problem::MissingDate(column) => write!(f, "missing date in column {column:?}"),
            Problem::BadDate { column, value } => {
                write!(f, "unparseable date {value:?} in column {column:?}")
            }
            Problem::UnknownStage(value) => write!(f, "unknown stage {value:?}"),
            Problem::BadEmail => f.write_str("e-mail is not an address"),
            Problem::DuplicateLeadId { first_line } => {
                write!(f, "duplicated lead id (first on line {first_line})")
            }
            Problem::UnknownLead => f.write_str("no lead with this id was imported before"),
            Problem::Rejected(why) => write!(f, "stage history refused: {why}"),
            Problem::EmailTaken => f.write_str("e-mail already belongs to another lead"),
            Problem::DatesOutOfOrder { column, before } => write!(
                f,
                "stage dates go backwards: the date in column {column:?} is before the date in \
                 column {before:?}"
            ),
            Problem::ConflictingDates { column, other } => write!(
                f,
                "columns {column:?} and {other:?} give the same stage different dates"
            ),
        }
    }
}

/// A row that was not imported, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    /// 1-based line number.
    pub line: u64,
    /// The lead id, when it could be read.
    pub lead_id: Option<String>,
    /// Why.
    pub problem: Problem,
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.lead_id {
            Some(id) => write!(f, "line {} (lead {id}): {}", self.line, self.problem),
            None => write!(f, "line {}: {}", self.line, self.problem),
        }
    }
}

/// The rows of a file: the readable ones and the reasons for the rest.
#[derive(Debug, Default)]
pub struct Parsed {
    /// Rows to import.
    pub rows: Vec<Row>,
    /// Rows that cannot be imported.
    pub errors: Vec<RowError>,
}

/// Column positions resolved against the header.
struct Layout {
    lead_id: usize,
    email: Option<usize>,
    created_at: Option<(String, usize)>,
    text: Vec<(&'static str, usize)>,
    stage: Option<usize>,
    stage_date: Option<(String, usize)>,
    stage_dates: Vec<(Stage, String, usize)>,
}

/// Reads every record of `input` under `mapping`.
pub fn parse(input: impl Read, mapping: &Mapping) -> Result<Parsed, ParseError> {
    let mut reader = csv::ReaderBuilder::new().flexible(false).from_reader(input);
    let header = reader
        .headers()
        .map_err(|e| ParseError::Header(e.to_string()))?
        .clone();
    let layout = layout(&header, mapping)?;

    let mut parsed = Parsed::default();
    let mut seen: HashMap<String, u64> = HashMap::new();
    for record in reader.records() {
        match record {
            Ok(rec) => {
                let line = rec.position().map_or(0, |p| p.line());
                match read_row(&rec, line, &layout, mapping, &mut seen) {
                    Ok(row) => parsed.rows.push(row),
                    Err(e) => parsed.errors.push(e),
                }
            }
            Err(e) => parsed.errors.push(RowError {
                line: e.position().map_or(0, |p| p.line()),
                lead_id: None,
                problem: Problem::Unreadable(e.kind_summary()),
            }),
        }
    }
    Ok(parsed)
}

/// The file as a whole cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// The header row is missing or broken.
    #[error("cannot read the CSV header: {0}")]
    Header(String),
    /// The mapping does not fit the header.
    #[error(transparent)]
    Mapping(#[from] MappingError),
}

trait KindSummary {
    fn kind_summary(&self) -> String;
}

impl KindSummary for csv::Error {
    /// The error without the record's content (which may hold personal data).
    fn kind_summary(&self) -> String {
        match self.kind() {
            csv::ErrorKind::UnequalLengths {
                expected_len, len, ..
            } => {
                format!("{len} fields where the header has {expected_len}")
            }
            csv::ErrorKind::Utf8 { .. } => "not valid UTF-8".to_owned(),
            _ => "malformed CSV".to_owned(),
        }
    }
}

fn layout(header: &csv::StringRecord, mapping: &Mapping) -> Result<Layout, MappingError> {
    let find = |field: &str, column: &str| {
        header
            .iter()
            .position(|h| h.trim() == column)
            .ok_or_else(|| MappingError::MissingColumn {
                field: field.to_owned(),
                column: column.to_owned(),
            })
    };
    for (field, column) in mapping.named_columns() {
        find(&field, column)?;
    }

    let c = &mapping.columns;
    let opt = |field: &str, column: &Option<String>| {
        column.as_deref().map(|col| find(field, col)).transpose()
    };
    let text_fields: [(&'static str, &Option<String>); 9] = [
        ("source", &c.source),
        ("campaign", &c.campaign),
        ("medium", &c.medium),
        ("form", &c.form),
        ("owner", &c.owner),
        ("reason", &c.reason),
        ("company", &c.company),
        ("title", &c.title),
        ("country", &c.country),
    ];
    let mut text = Vec::new();
    for (name, column) in text_fields {
        if let Some(i) = opt(name, column)? {
            text.push((name, i));
        }
    }
    let stage_dates = mapping
        .stage_dates
        .iter()
        .map(|(s, col)| Ok((*s, col.clone(), find("stage_dates", col)?)))
        .collect::<Result<Vec<_>, MappingError>>()?;

    Ok(Layout {
        lead_id: find("lead_id", &c.lead_id)?,
        email: opt("email", &c.email)?,
        created_at: c
            .created_at
            .as_ref()
            .map(|col| Ok::<_, MappingError>((col.clone(), find("created_at", col)?)))
            .transpose()?,
        text,
        stage: opt("stage", &c.stage)?,
        stage_date: c
            .stage_date
            .as_ref()
            .map(|col| Ok::<_, MappingError>((col.clone(), find("stage_date", col)?)))
            .transpose()?,
        stage_dates,
    })
}

fn cell(rec: &csv::StringRecord, i: usize) -> Option<&str> {
    rec.get(i).map(str::trim).filter(|v| !v.is_empty())
}

fn read_row(
    rec: &csv::StringRecord,
    line: u64,
    layout: &Layout,
    mapping: &Mapping,
    seen: &mut HashMap<String, u64>,
) -> Result<Row, RowError> {
    let fail = |lead_id: Option<&str>, problem| RowError {
        line,
        lead_id: lead_id.map(String::from),
        problem,
    };
    let lead_id = cell(rec, layout.lead_id).ok_or_else(|| fail(None, Problem::MissingLeadId))?;
    let err = |problem| fail(Some(lead_id), problem);

    if let Some(first_line) = seen.get(lead_id) {
        return Err(err(Problem::DuplicateLeadId {
            first_line: *first_line,
        }));
    }

    let email = match layout.email.and_then(|i| cell(rec, i)) {
        Some(raw) => Some(Email::parse(raw).map_err(|_| err(Problem::BadEmail))?),
        None => None,
    };
    let date = |column: &str, i: usize| -> Result<Option<Timestamp>, RowError> {
        cell(rec, i)
            .map(|v| {
                parse_date(v, &mapping.date_formats).ok_or_else(|| {
                    err(Problem::BadDate {
                        column: column.to_owned(),
                        value: v.to_owned(),
                    })
                })
            })
            .transpose()
    };

    let created_at = match &layout.created_at {
        Some((column, i)) => {
            Some(date(column, *i)?.ok_or_else(|| err(Problem::MissingDate(column.clone())))?)
        }
        None => None,
    };
    let mut dated: Vec<Dated> = Vec::new();
    for (stage, column, i) in &layout.stage_dates {
        if let Some(at) = date(column, *i)? {
            dated.push((*stage, at, column.clone()));
        }
    }
    if let Some(i) = layout.stage {
        if let Some(current) = current_stage(rec, i, layout, mapping, &date, &err)? {
            merge_current(&mut dated, current).map_err(err)?;
        }
    }
    if mapping.mode == Mode::Create && created_at.is_none() && dated.is_empty() {
        return Err(err(Problem::MissingDate("created_at".to_owned())));
    }
    let created = created_at.zip(layout.created_at.as_ref().map(|(c, _)| c.clone()));
    check_order(created, &dated).map_err(err)?;
    let mut stages: Vec<(Stage, Timestamp)> = dated.into_iter().map(|(s, at, _)| (s, at)).collect();
    stages.sort_by_key(|(s, at)| (*at, *s));

    let fields = layout
        .text
        .iter()
        .filter_map(|(name, i)| cell(rec, *i).map(|v| (*name, v.to_owned())))
        .collect();
    seen.insert(lead_id.to_owned(), line);
    Ok(Row {
        line,
        lead_id: lead_id.to_owned(),
        email,
        created_at,
        fields,
        stages,
    })
}

/// A stage, the date it was entered, and the column that date came from.
type Dated = (Stage, Timestamp, String);

/// Adds the `stage` column's stage unless a per-stage column already dates it: the same date is
/// one fact, a different date is a contradiction the export must settle, not us.
fn merge_current(dated: &mut Vec<Dated>, current: Dated) -> Result<(), Problem> {
    let (stage, at, column) = current;
    match dated.iter().find(|(s, _, _)| *s == stage) {
        Some((_, other_at, other)) if *other_at != at => Err(Problem::ConflictingDates {
            column,
            other: other.clone(),
        }),
        Some(_) => Ok(()),
        None => {
            dated.push((stage, at, column));
            Ok(())
        }
    }
}

/// Refuses dates that go backwards: along the funnel (`New` … `Won`) each stage's date must not
/// precede an earlier stage's, and no stage may precede the created date. Disqualified and
/// recycled are off the funnel, so only the created date bounds them.
fn check_order(created: Option<(Timestamp, String)>, dated: &[Dated]) -> Result<(), Problem> {
    let mut funnel: Vec<(u8, Timestamp, &str)> = created
        .iter()
        .map(|(at, column)| (0, *at, column.as_str()))
        .collect();
    funnel.extend(
        dated
            .iter()
            .filter_map(|(s, at, column)| s.rank().map(|r| (r, *at, column.as_str()))),
    );
    funnel.sort_by_key(|(rank, _, _)| *rank);
    // The latest date so far along the funnel, with its column.
    let mut latest: Option<(Timestamp, &str)> = None;
    for (_, at, column) in funnel {
        match latest {
            Some((prev, before)) if at < prev => {
                return Err(Problem::DatesOutOfOrder {
                    column: column.to_owned(),
                    before: before.to_owned(),
                })
            }
            _ => latest = Some((at, column)),
        }
    }
    if let Some((created_at, created_column)) = &created {
        if let Some((_, _, column)) = dated.iter().find(|(_, at, _)| at < created_at) {
            return Err(Problem::DatesOutOfOrder {
                column: column.clone(),
                before: created_column.clone(),
            });
        }
    }
    Ok(())
}

type DateFn<'a> = dyn Fn(&str, usize) -> Result<Option<Timestamp>, RowError> + 'a;

/// The `stage` column's value with its `stage_date`.
fn current_stage(
    rec: &csv::StringRecord,
    i: usize,
    layout: &Layout,
    mapping: &Mapping,
    date: &DateFn<'_>,
    err: &dyn Fn(Problem) -> RowError,
) -> Result<Option<Dated>, RowError> {
    let Some(name) = cell(rec, i) else {
        return Ok(None);
    };
    let stage = mapping
        .stage_names
        .get(name)
        .copied()
        .or_else(|| name.parse::<Stage>().ok())
        .ok_or_else(|| err(Problem::UnknownStage(name.to_owned())))?;
    if stage == Stage::New {
        return Ok(None);
    }

    let Some((column, j)) = &layout.stage_date else {
        return Err(err(Problem::MissingDate("stage_date".to_owned())));
    };
    let at = date(column, *j)?.ok_or_else(|| err(Problem::MissingDate(column.clone())))?;
    Ok(Some((stage, at, column.clone())))
}

/// Parses a date or date-time: RFC 3339 first, then each format (times without a zone are UTC,
/// a date alone is midnight UTC).
pub fn parse_date(value: &str, formats: &[String]) -> Option<Timestamp> {
    if let Ok(t) = DateTime::parse_from_rfc3339(value) {
        return Some(t.with_timezone(&Utc));
    }
    formats.iter().find_map(|f| {
        NaiveDateTime::parse_from_str(value, f)
            .map(|t| t.and_utc())
            .or_else(|_| {
                NaiveDate::parse_from_str(value, f)
                    .map(|d| d.and_time(chrono::NaiveTime::MIN).and_utc())
            })
            .ok()
    })
}
