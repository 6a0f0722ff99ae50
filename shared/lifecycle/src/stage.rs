//! Stages of the journey.
//!
//! The funnel stages are ordered: `New → MQL → SAL → SQL → Won`. Within a cycle a lead only moves
//! forward along them (skipping is allowed and recorded). `Disqualified` and `Recycled` sit off
//! the funnel: they close a cycle, and a lead that qualifies again afterwards starts a new one.

use serde::{Deserialize, Serialize};
use std::{fmt, str::FromStr};

/// Where a lead is in its journey.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Known to the system, not yet qualified.
    New,
    /// Marketing qualified: the grade and score thresholds were met, or the lead raised a hand.
    Mql,
    /// Sales accepted: routed to a rep, and the rep accepted it.
    Sal,
    /// Sales qualified: the rep confirmed intent and budget; an opportunity exists in the CRM.
    Sql,
    /// The opportunity was won (the deal closed). The end of the funnel.
    Won,
    /// Rejected by sales or marketing, with a reason. Never deleted.
    Disqualified,
    /// Returned to nurture; may become an MQL again in a new cycle.
    Recycled,
}

impl Stage {
    /// The funnel stages in order.
    pub const FUNNEL: [Stage; 5] = [Stage::New, Stage::Mql, Stage::Sal, Stage::Sql, Stage::Won];

    /// Every stage, funnel first.
    pub const ALL: [Stage; 7] = [
        Stage::New,
        Stage::Mql,
        Stage::Sal,
        Stage::Sql,
        Stage::Won,
        Stage::Disqualified,
        Stage::Recycled,
    ];

    /// Position along the funnel (`New` = 0 … `Won` = 4); `None` for the stages off the funnel.
    pub fn rank(self) -> Option<u8> {
        match self {
            Stage::New => Some(0),
            Stage::Mql => Some(1),
            Stage::Sal => Some(2),
            Stage::Sql => Some(3),
            Stage::Won => Some(4),
            Stage::Disqualified | Stage::Recycled => None,
        }
    }

    /// Whether the stage closes a cycle (a later qualification starts a new one).
    pub fn closes_cycle(self) -> bool {
        matches!(self, Stage::Disqualified | Stage::Recycled)
    }

    /// The funnel stages strictly between `self` and `later`, i.e. the ones a jump skips.
    pub fn between(self, later: Stage) -> Vec<Stage> {
        let (Some(a), Some(b)) = (self.rank(), later.rank()) else {
            return Vec::new();
        };
        Stage::FUNNEL
            .into_iter()
            .filter(|s| s.rank().is_some_and(|r| r > a && r < b))
            .collect()
    }

    /// The stable lower-case name used in the API, reports and storage.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::New => "new",
            Stage::Mql => "mql",
            Stage::Sal => "sal",
            Stage::Sql => "sql",
            Stage::Won => "won",
            Stage::Disqualified => "disqualified",
            Stage::Recycled => "recycled",
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The text was not a stage name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown stage {0:?} (expected one of new, mql, sal, sql, won, disqualified, recycled)")]
pub struct UnknownStage(pub String);

impl FromStr for Stage {
    type Err = UnknownStage;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase();
        Stage::ALL
            .into_iter()
            .find(|st| st.as_str() == wanted)
            .ok_or_else(|| UnknownStage(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn between_lists_the_skipped_funnel_stages() {
        assert_eq!(Stage::Mql.between(Stage::Sql), vec![Stage::Sal]);
        assert_eq!(
            Stage::New.between(Stage::Won),
            vec![Stage::Mql, Stage::Sal, Stage::Sql]
        );
        assert!(Stage::Sal.between(Stage::Sql).is_empty());
        assert!(Stage::Recycled.between(Stage::Sql).is_empty());
    }

    #[test]
    fn names_round_trip() {
        for s in Stage::ALL {
            assert_eq!(s.as_str().parse::<Stage>().unwrap(), s);
        }
        assert!("opportunity".parse::<Stage>().is_err());
    }
}
