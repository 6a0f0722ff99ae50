//! The scoring sweep: what scoring does every minute, on a schedule rather than a queue.
//!
//! 1. **Wake-ups** ([`crate::wake`]): leads whose delayed points started to count are decided
//!    again, so a "returns after an hour" rule can make an MQL with no activity arriving.
//! 2. **Rescore**: when the rules in force are a version no completed rescore has applied
//!    (`PUT /config/scoring_rules` saved new rules), every lead is rescored, [`PAGES`] pages of
//!    [`PAGE_SIZE`] leads per sweep. Where it stands is a progress document
//!    (`scoring_rescore/progress`), written after each page, so a sweep that stops (a timeout,
//!    a crash) is resumed by the next from the page it had not finished; leads already at the
//!    version are skipped by their ledger, and each lead's rescore is claimed once. A pass that
//!    had failures is followed by another, up to [`MAX_PASSES`].
//!
//! Known shortcoming: [`PAGES`] × [`PAGE_SIZE`] = 500 leads a minute, so a tenant with 100,000
//! leads is rescored over about three hours. Meanwhile each lead is rescored on the spot by its
//! next activity, and an MQL the new rules cause is dated when the lead's rescore ran.

use crate::{
    documents,
    error::ScoringError,
    handler::Scorer,
    rescore::{self, RescoreReport},
    wake,
};
use lifecycle::Timestamp;
use ports::{Commit, CommitOutcome, Document, DocumentWrite, Expect};
use serde::{Deserialize, Serialize};

/// The collection and key of the rescore's progress document.
pub const PROGRESS: (&str, &str) = ("scoring_rescore", "progress");
/// Pages of leads rescored per sweep.
pub const PAGES: usize = 5;
/// Leads per page.
pub const PAGE_SIZE: usize = 100;

/// How much of a rescore one sweep does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Pages per sweep.
    pub pages: usize,
    /// Leads per page.
    pub page_size: usize,
}

impl Budget {
    /// [`PAGES`] of [`PAGE_SIZE`].
    pub const DEFAULT: Budget = Budget {
        pages: PAGES,
        page_size: PAGE_SIZE,
    };
}
/// Passes over all leads for one version, while some fail.
pub const MAX_PASSES: u32 = 3;

/// Where the rescore to a version stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RescoreProgress {
    /// The rule-set version being applied.
    pub version: u32,
    /// The listing cursor of the next page; `None` at the start of a pass.
    pub cursor: Option<String>,
    /// The pass, from 1.
    pub pass: u32,
    /// Leads looked at, rescored and failed in this pass.
    pub leads: u64,
    /// Leads rescored, over all passes.
    pub rescored: u64,
    /// Leads that failed in this pass.
    pub failed: u64,
    /// When the first pass started.
    pub started_at: Timestamp,
    /// When the last pass ended; `None` while it runs.
    pub finished_at: Option<Timestamp>,
}

impl RescoreProgress {
    fn start(version: u32, now: Timestamp) -> Self {
        Self {
            version,
            cursor: None,
            pass: 1,
            leads: 0,
            rescored: 0,
            failed: 0,
            started_at: now,
            finished_at: None,
        }
    }

    /// Adds a page's results and moves on: to the next page, the next pass, or the end.
    fn advance(&mut self, page: &RescoreReport, next: Option<String>, now: Timestamp) {
        self.leads += page.leads as u64;
        self.rescored += page.rescored as u64;
        self.failed += page.failed.len() as u64;
        self.cursor = next;
        if self.cursor.is_some() {
            return;
        }
        if self.failed > 0 && self.pass < MAX_PASSES {
            self.pass += 1;
            self.leads = 0;
            self.failed = 0;
        } else {
            self.finished_at = Some(now);
        }
    }
}

/// What one sweep did.
#[derive(Debug, Clone, Default)]
pub struct SweepReport {
    /// The wake-ups.
    pub wakes: wake::WakeReport,
    /// The rescore's progress after this sweep, when one ran.
    pub rescore: Option<RescoreProgress>,
    /// Leads that became MQLs through this sweep's rescore pages.
    pub rescore_mqls: usize,
}

/// Runs the sweep at `now`.
pub async fn sweep(scorer: &Scorer, now: Timestamp) -> Result<SweepReport, ScoringError> {
    sweep_within(scorer, now, Budget::DEFAULT).await
}

/// Runs the sweep at `now`, rescoring at most `budget`.
#[tracing::instrument(name = "scoring sweep", skip_all, err)]
pub async fn sweep_within(
    scorer: &Scorer,
    now: Timestamp,
    budget: Budget,
) -> Result<SweepReport, ScoringError> {
    let rules = documents::load_rules(scorer.docs.as_ref()).await?;
    let wakes = wake::sweep_wakes(
        scorer.store.as_ref(),
        scorer.docs.as_ref(),
        scorer.queue.as_ref(),
        &rules,
        now,
    )
    .await?;
    let (rescore, rescore_mqls) = rescore_step(scorer, &rules, now, budget).await?;
    tracing::info!(
        wakes_due = wakes.due,
        woken = wakes.woken,
        wake_failures = wakes.failed,
        wakes_parked = wakes.parked,
        rescore_version = rescore.as_ref().map(|p| p.version),
        rescored = rescore.as_ref().map(|p| p.rescored),
        "scoring sweep done"
    );
    Ok(SweepReport {
        wakes,
        rescore,
        rescore_mqls,
    })
}

/// Runs a few pages of the rescore to `rules`' version, if one is due; returns its progress.
async fn rescore_step(
    scorer: &Scorer,
    rules: &lifecycle::scoring::RuleSet,
    now: Timestamp,
    budget: Budget,
) -> Result<(Option<RescoreProgress>, usize), ScoringError> {
    let (collection, key) = PROGRESS;
    let stored = scorer.docs.get(collection, key).await?;
    let mut doc_version = stored.as_ref().map_or(0, |d| d.version);
    let mut progress = match stored.map(|d| serde_json::from_value::<RescoreProgress>(d.body)) {
        Some(Ok(p)) if p.version == rules.version => p,
        // Version 1 is the shipped rule set: nothing was ever scored under another.
        None if rules.version == 1 => return Ok((None, 0)),
        _ => RescoreProgress::start(rules.version, now),
    };
    if progress.finished_at.is_some() {
        return Ok((Some(progress), 0));
    }

    let mut mqls = 0;
    for _ in 0..budget.pages {
        let mut page = RescoreReport::default();
        let next = rescore::rescore_page(
            scorer.store.as_ref(),
            scorer.docs.as_ref(),
            scorer.queue.as_ref(),
            rules,
            progress.cursor.clone(),
            budget.page_size,
            now,
            &mut page,
        )
        .await?;
        mqls += page.new_mqls;
        progress.advance(&page, next, now);
        match save(scorer, &progress, doc_version).await? {
            Some(version) => doc_version = version,
            // Another sweep moved the progress on: leave the rest to it.
            None => return Ok((Some(progress), mqls)),
        }
        if progress.finished_at.is_some() {
            break;
        }
    }
    Ok((Some(progress), mqls))
}

/// Stores the progress over `read_version`; the new version, or `None` when another sweep wrote
/// it meanwhile.
async fn save(
    scorer: &Scorer,
    progress: &RescoreProgress,
    read_version: u64,
) -> Result<Option<u64>, ScoringError> {
    let (collection, key) = PROGRESS;
    let expect = match read_version {
        0 => Expect::Absent,
        v => Expect::Version(v),
    };
    let mut commit = Commit::default();
    commit.documents.push(DocumentWrite::Put {
        doc: Document {
            collection: collection.to_owned(),
            key: key.to_owned(),
            version: read_version + 1,
            index: None,
            // Numbers, a cursor and times: serialising cannot fail.
            body: serde_json::to_value(progress).unwrap_or_default(),
            expires_at: None,
        },
        expect,
    });
    Ok(match scorer.store.commit(commit).await? {
        CommitOutcome::Committed => Some(read_version + 1),
        CommitOutcome::Duplicate { .. } | CommitOutcome::Conflict { .. } => None,
    })
}
