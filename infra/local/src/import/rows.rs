//! Reading a CSV export into rows of lead facts, with a line-numbered reason for every row that
//! cannot be read. Nothing here touches the store.

use super::mapping::{Mapping, MappingError, Mode, OutOfOrder};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use funnel_rollup::csv_lines::Lines;
use lifecycle::{Email, Stage, Timestamp};
use std::{collections::HashMap, fmt, io::Read};

/// One readable row.
#[derive(Debug, Clone)]
pub struct Row {
    /// 1-based line number of the record in the file (the header is line 1).
    pub line: u64,
    /// The line it ends on (later than `line` when a quoted field holds line breaks).
    pub last_line: u64,
    /// The lead id.
    pub lead_id: String,
    /// Normalised e-mail.
    pub email: Option<Email>,
    /// When the lead was created.
    pub created_at: Option<Timestamp>,
    /// Optional text fields by mapping name (`source`, `campaign`, `owner`, …).
    pub fields: HashMap<&'static str, String>,
    /// Stages entered, with their dates and the columns they came from, oldest first.
    pub stages: Vec<StageDate>,
}

/// A stage a row says the lead entered, when, and the column that says so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageDate {
    /// The stage.
    pub stage: Stage,
    /// When it was entered.
    pub at: Timestamp,
    /// The column the date came from.
    pub column: String,
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
    /// A mapped column holds a value longer than any real one (the value is not repeated).
    TooLong {
        /// The column.
        column: String,
        /// The most bytes it may hold.
        max: usize,
    },
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
    /// A stage's date precedes the date the lead (as imported before, or as this row has it so
    /// far) entered an earlier stage of the same cycle, or follows its entry into a later one.
    OutOfOrderWithLead {
        /// The column with the stage's date.
        column: String,
        /// The stage it contradicts.
        stage: Stage,
        /// When the lead entered that stage.
        entered_at: Timestamp,
    },
    /// A date later than the importer's clock (a day's slack for time zones).
    FutureDate {
        /// The column.
        column: String,
        /// The date.
        at: Timestamp,
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
            Problem::TooLong { column, max } => {
                write!(
                    f,
                    "the value in column {column:?} is longer than {max} bytes"
                )
            }
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
            Problem::OutOfOrderWithLead {
                column,
                stage,
                entered_at,
            } => write!(
                f,
                "stage dates go backwards: the date in column {column:?} contradicts the lead's \
                 {stage} date ({})",
                entered_at.format("%Y-%m-%d %H:%M:%S UTC")
            ),
            Problem::FutureDate { column, at } => write!(
                f,
                "the date in column {column:?} ({}) is in the future",
                at.format("%Y-%m-%d %H:%M:%S UTC")
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
    /// 1-based line number where the record starts.
    pub line: u64,
    /// Where it ends: the same line, unless a quoted field holds line breaks (or a quote is
    /// never closed and the record runs on).
    pub last_line: u64,
    /// The lead id, when it could be read.
    pub lead_id: Option<String>,
    /// Why.
    pub problem: Problem,
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.last_line {
            last if last > self.line => write!(f, "lines {}–{last}", self.line)?,
            _ => write!(f, "line {}", self.line)?,
        }
        match &self.lead_id {
            Some(id) => write!(f, " (lead {id}): {}", self.problem),
            None => write!(f, ": {}", self.problem),
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
    /// Every mapped column: its name, position and longest value taken.
    limits: Vec<(String, usize, usize)>,
    lead_id: usize,
    email: Option<usize>,
    created_at: Option<(String, usize)>,
    text: Vec<(&'static str, usize)>,
    stage: Option<usize>,
    stage_date: Option<(String, usize)>,
    stage_dates: Vec<(Stage, String, usize)>,
}

/// The longest lead id taken, in bytes: ids are copied into every transition and key.
pub const MAX_ID_BYTES: usize = 256;
/// The longest value taken from any other mapped column, in bytes. Longer values are not a
/// source, a campaign or a date; they are refused rather than copied into every transition.
pub const MAX_FIELD_BYTES: usize = 1024;

/// Reads every record of `input` under `mapping`.
///
/// Line numbers count `\n`, `\r\n` and bare `\r` line ends alike (the csv crate's own count
/// is wrong for the last two, see [`funnel_rollup::csv_lines`]); a record spanning lines names
/// its first and last line, so a quote that is never closed, which swallows every line after
/// it into one record, names all the lines it swallowed.
pub fn parse(mut input: impl Read, mapping: &Mapping) -> Result<Parsed, ParseError> {
    let mut bytes = Vec::new();
    input.read_to_end(&mut bytes).map_err(ParseError::Read)?;
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ParseError::Empty);
    }
    let lines = Lines::new(bytes);
    let mut reader = csv::ReaderBuilder::new().flexible(false).from_reader(bytes);
    let header = reader
        .headers()
        .map_err(|e| ParseError::Header(e.kind_summary()))?
        .clone();
    let layout = layout(&header, mapping)?;

    let mut parsed = Parsed::default();
    let mut seen: HashMap<String, u64> = HashMap::new();
    let mut record = csv::StringRecord::new();
    loop {
        let before = reader.position().byte() as usize;
        let read = reader.read_record(&mut record);
        let after = reader.position().byte() as usize;
        let start = match &read {
            Ok(_) => record.position().map_or(before, |p| p.byte() as usize),
            Err(e) => e.position().map_or(before, |p| p.byte() as usize),
        };
        let (line, last_line) = lines.span(start, after);
        let unreadable = |problem| RowError {
            line,
            last_line,
            lead_id: None,
            problem,
        };
        if matches!(read, Ok(false)) {
            return Ok(parsed);
        }
        if lines.has_unclosed_quote(start, after) {
            let problem = Problem::Unreadable(UNCLOSED_QUOTE.to_owned());
            parsed.errors.push(unreadable(problem));
            continue;
        }
        match read {
            Ok(_) => match read_row(&record, (line, last_line), &layout, mapping, &mut seen) {
                Ok(row) => parsed.rows.push(row),
                Err(e) => parsed.errors.push(e),
            },
            Err(e) => parsed
                .errors
                .push(unreadable(Problem::Unreadable(e.kind_summary()))),
        }
    }
}

const UNCLOSED_QUOTE: &str = "a quote is opened and never closed, so every line after it was \
                              read as part of this record";

/// The file as a whole cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// The file could not be read.
    #[error("cannot read the file")]
    Read(#[source] std::io::Error),
    /// The file holds nothing (not even a header).
    #[error("the file is empty")]
    Empty,
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
    let limits = mapping
        .named_columns()
        .into_iter()
        .map(|(field, column)| {
            let max = match field.as_str() {
                "lead_id" => MAX_ID_BYTES,
                _ => MAX_FIELD_BYTES,
            };
            Ok((column.to_owned(), find(&field, column)?, max))
        })
        .collect::<Result<Vec<_>, MappingError>>()?;

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
        limits,
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

/// The first mapped column whose value is longer than it may be, with its limit.
fn oversized(rec: &csv::StringRecord, layout: &Layout) -> Option<(String, usize)> {
    layout
        .limits
        .iter()
        .find(|(_, i, max)| rec.get(*i).is_some_and(|v| v.trim().len() > *max))
        .map(|(column, _, max)| (column.clone(), *max))
}

fn cell(rec: &csv::StringRecord, i: usize) -> Option<&str> {
    rec.get(i).map(str::trim).filter(|v| !v.is_empty())
}

fn read_row(
    rec: &csv::StringRecord,
    (line, last_line): (u64, u64),
    layout: &Layout,
    mapping: &Mapping,
    seen: &mut HashMap<String, u64>,
) -> Result<Row, RowError> {
    let fail = |lead_id: Option<&str>, problem| RowError {
        line,
        last_line,
        lead_id: lead_id.map(String::from),
        problem,
    };
    if let Some((column, max)) = oversized(rec, layout) {
        return Err(fail(None, Problem::TooLong { column, max }));
    }
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
    if mapping.dates_out_of_order == OutOfOrder::Reject {
        check_order(created, &dated).map_err(err)?;
    }
    let mut stages: Vec<StageDate> = dated
        .into_iter()
        .map(|(stage, at, column)| StageDate { stage, at, column })
        .collect();
    stages.sort_by_key(|d| (d.at, d.stage));

    let fields = layout
        .text
        .iter()
        .filter_map(|(name, i)| cell(rec, *i).map(|v| (*name, v.to_owned())))
        .collect();
    seen.insert(lead_id.to_owned(), line);
    Ok(Row {
        line,
        last_line,
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
