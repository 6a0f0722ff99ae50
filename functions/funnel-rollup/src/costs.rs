//! Campaign costs: parsed from CSV (or given through the API), stored as documents, and summed
//! per campaign for a report's months.
//!
//! The CSV has a header and three columns, `campaign,month,amount` (`month` as `YYYY-MM`,
//! `amount` a non-negative decimal in the account's currency). A bad row is reported with its
//! line number and what is wrong with it (never its content, which may be free text); the good
//! rows are kept. A cost is stored under `<month>/<campaign>`; a later import for the same
//! month and campaign replaces it.

use crate::csv_lines::Lines;
use chrono::NaiveDate;
use ports::{
    Commit, CommitOutcome, Document, DocumentStore, DocumentWrite, Expect, JourneyStore,
    StoreError, MAX_PAGE,
};
use serde::{Deserialize, Serialize};
use std::collections::{
    hash_map::{Entry, HashMap},
    BTreeMap,
};

/// The document collection of campaign costs.
pub const COLLECTION: &str = "campaign_cost";

/// What one campaign cost in one month.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CampaignCost {
    /// The campaign, as it appears in the leads' attribution.
    pub campaign: String,
    /// The month's first day.
    #[serde(with = "month_text")]
    pub month: NaiveDate,
    /// The amount spent.
    pub amount: f64,
}

/// A month as `YYYY-MM` in JSON (any day of it is read as the month).
mod month_text {
    use chrono::{Datelike, NaiveDate};
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(month: &NaiveDate, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&month.format("%Y-%m").to_string())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveDate, D::Error> {
        let text = String::deserialize(d)?;
        NaiveDate::parse_from_str(&format!("{text}-01"), "%Y-%m-%d")
            .or_else(|_| NaiveDate::parse_from_str(&text, "%Y-%m-%d"))
            .map(|d| d.with_day(1).unwrap_or(d))
            .map_err(|_| D::Error::custom("month must be YYYY-MM"))
    }
}

/// A CSV row that was not taken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowError {
    /// The line in the file where the record starts (the header is line 1).
    pub line: u64,
    /// The line where it ends (the same line unless a quoted field holds a line break).
    pub last_line: u64,
    /// What is wrong.
    pub problem: String,
}

/// The outcome of parsing a costs file: the good rows and the bad ones.
#[derive(Debug, Default, PartialEq, Serialize)]
pub struct CostImport {
    /// Rows taken.
    pub costs: Vec<CampaignCost>,
    /// Rows refused.
    pub errors: Vec<RowError>,
}

/// Parses a costs CSV. Line numbers count `\n`, `\r\n` and `\r` line ends alike
/// ([`csv_lines`](crate::csv_lines)); a record that spans lines (a quoted line break, or a
/// quote never closed) names its first and last line.
pub fn parse_csv(input: &[u8]) -> CostImport {
    let input = input.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(input);
    let lines = Lines::new(input);
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(true)
        .from_reader(input);
    let mut out = CostImport::default();
    let mut record = csv::StringRecord::new();
    let mut first_line: HashMap<String, u64> = HashMap::new();
    loop {
        let before = reader.position().byte() as usize;
        let read = reader.read_record(&mut record);
        let after = reader.position().byte() as usize;
        let start = match &read {
            Ok(_) => record.position().map_or(before, |p| p.byte() as usize),
            Err(e) => e.position().map_or(before, |p| p.byte() as usize),
        };
        let (line, last_line) = lines.span(start, after);
        let problem = match read {
            Ok(false) => return out,
            _ if lines.has_unclosed_quote(start, after) => {
                "a quote is opened and never closed".to_owned()
            }
            Ok(_) => match row(&record) {
                Ok(cost) => match first_line.entry(key(&cost)) {
                    Entry::Vacant(free) => {
                        free.insert(line);
                        out.costs.push(cost);
                        continue;
                    }
                    Entry::Occupied(taken) => repeated(*taken.get()),
                },
                Err(problem) => problem,
            },
            Err(_) => "not readable as CSV (not UTF-8, or broken quoting)".to_owned(),
        };
        out.errors.push(RowError {
            line,
            last_line,
            problem,
        });
    }
}

/// The problem of a cost given twice in one upload: which of the two would be meant is not
/// ours to guess, so the first stays and the second is refused.
fn repeated(first: u64) -> String {
    format!("the same campaign and month as line {first}")
}

fn row(r: &csv::StringRecord) -> Result<CampaignCost, String> {
    if r.len() != 3 {
        return Err(format!(
            "expected 3 fields (campaign,month,amount), found {}",
            r.len()
        ));
    }
    let campaign = r[0].to_owned();
    if campaign.is_empty() {
        return Err("campaign is empty".to_owned());
    }
    if campaign.len() > MAX_CAMPAIGN_BYTES {
        return Err("campaign is longer than 256 bytes".to_owned());
    }
    let month = NaiveDate::parse_from_str(&format!("{}-01", &r[1]), "%Y-%m-%d")
        .map_err(|_| "month is not YYYY-MM".to_owned())?;
    let amount: f64 = r[2]
        .parse()
        .ok()
        .filter(|a: &f64| a.is_finite() && *a >= 0.0)
        .ok_or_else(|| "amount is not a non-negative number".to_owned())?;
    if amount > MAX_AMOUNT {
        return Err(too_much());
    }
    Ok(CampaignCost {
        campaign,
        month,
        amount,
    })
}

/// The document key of a cost.
pub fn key(cost: &CampaignCost) -> String {
    format!("{}/{}", cost.month.format("%Y-%m"), cost.campaign)
}

/// Stores `costs` in one commit, each replacing what was stored for its month and campaign.
///
/// Each write is conditional on the version read, so an upload that races another is not a
/// lost write: it is read and committed again, a few times, and only then answered
/// `Conflict`. `costs` must not name a campaign and month twice ([`check`] and [`parse_csv`]
/// refuse that), or the two writes of one document would conflict with each other.
pub async fn store(
    journey: &dyn JourneyStore,
    docs: &dyn DocumentStore,
    costs: &[CampaignCost],
) -> Result<CommitOutcome, StoreError> {
    let mut outcome = CommitOutcome::Committed;
    for _ in 0..STORE_ATTEMPTS {
        outcome = journey.commit(commit_of(docs, costs).await?).await?;
        if !matches!(outcome, CommitOutcome::Conflict { .. }) {
            break;
        }
    }
    Ok(outcome)
}

/// How many times [`store`] reads and commits before it answers a conflict. One upload wins
/// each round against the others writing the same costs, so this many
/// writers at once all land.
const STORE_ATTEMPTS: usize = 16;

async fn commit_of(docs: &dyn DocumentStore, costs: &[CampaignCost]) -> Result<Commit, StoreError> {
    let mut commit = Commit::default();
    for cost in costs {
        let stored = docs.get(COLLECTION, &key(cost)).await?.map(|d| d.version);
        commit.documents.push(DocumentWrite::Put {
            doc: Document {
                collection: COLLECTION.to_owned(),
                key: key(cost),
                version: stored.map_or(1, |v| v + 1),
                index: None,
                body: serde_json::to_value(cost).expect("a cost always serialises"),
                expires_at: None,
            },
            expect: stored.map_or(Expect::Absent, Expect::Version),
        });
    }
    Ok(commit)
}

/// Each (campaign, month)'s cost over `months` (first days), from the stored costs.
pub async fn by_month(
    docs: &dyn DocumentStore,
    months: &[NaiveDate],
) -> Result<BTreeMap<(String, NaiveDate), f64>, StoreError> {
    let mut out = BTreeMap::new();
    for month in months {
        for cost in stored(docs, *month).await? {
            *out.entry((cost.campaign, cost.month)).or_default() += cost.amount;
        }
    }
    Ok(out)
}

/// The costs stored for `month`.
pub async fn stored(
    docs: &dyn DocumentStore,
    month: NaiveDate,
) -> Result<Vec<CampaignCost>, StoreError> {
    let prefix = format!("{}/", month.format("%Y-%m"));
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let page = docs.list(COLLECTION, &prefix, cursor, MAX_PAGE).await?;
        for doc in page.items {
            let cost: CampaignCost =
                serde_json::from_value(doc.body).map_err(|e| StoreError::Corrupt {
                    key: format!("{COLLECTION}/{}", doc.key),
                    source: Box::new(e),
                })?;
            out.push(cost);
        }
        match page.next {
            Some(next) => cursor = Some(next),
            None => return Ok(out),
        }
    }
}

/// Checks costs given as JSON (by the API): the same rules as a CSV row. Returns the problems
/// by position in the list.
pub fn check(costs: &[CampaignCost]) -> Vec<(usize, String)> {
    let mut first: HashMap<String, usize> = HashMap::new();
    costs
        .iter()
        .enumerate()
        .filter_map(|(i, c)| {
            let problem = if c.campaign.trim().is_empty() {
                "campaign is empty".to_owned()
            } else if c.campaign.len() > MAX_CAMPAIGN_BYTES {
                "campaign is longer than 256 bytes".to_owned()
            } else if !c.amount.is_finite() || c.amount < 0.0 {
                "amount is not a non-negative number".to_owned()
            } else if c.amount > MAX_AMOUNT {
                too_much()
            } else if let Some(at) = first.get(&key(c)) {
                format!("the same campaign and month as /costs/{at}")
            } else {
                first.insert(key(c), i);
                return None;
            };
            Some((i, problem))
        })
        .collect()
}

/// The largest cost of one campaign in one month: a trillion. Amounts near `f64::MAX` summed
/// over months overflowed to infinity, and the campaign's cost read as unknown.
pub const MAX_AMOUNT: f64 = 1e12;

fn too_much() -> String {
    format!("amount is more than {MAX_AMOUNT:e}")
}

/// The longest campaign name taken.
pub const MAX_CAMPAIGN_BYTES: usize = 256;

/// Each campaign's total cost over `months` (first days), from the stored costs.
pub async fn totals(
    docs: &dyn DocumentStore,
    months: &[NaiveDate],
) -> Result<BTreeMap<String, f64>, StoreError> {
    let mut out = BTreeMap::new();
    for month in months {
        let prefix = format!("{}/", month.format("%Y-%m"));
        let mut cursor = None;
        loop {
            let page = docs.list(COLLECTION, &prefix, cursor, MAX_PAGE).await?;
            for doc in page.items {
                let cost: CampaignCost =
                    serde_json::from_value(doc.body).map_err(|e| StoreError::Corrupt {
                        key: format!("{COLLECTION}/{}", doc.key),
                        source: Box::new(e),
                    })?;
                *out.entry(cost.campaign).or_default() += cost.amount;
            }
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
    }
    Ok(out)
}
