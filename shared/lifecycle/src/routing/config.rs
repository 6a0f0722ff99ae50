//! Routing configuration: pools, their members, and the rules that pick a pool.
//!
//! A **pool** is a team that shares leads: its members (reps, each with a weight, an optional
//! territory and caps), its strategy, whether account matching applies, what a rep back from
//! an absence gets, and the **overflow queue** that receives a lead when no member is
//! eligible. A **segment** is a set of conditions on a lead's facts (country, company size,
//! industry, grade); a **pool rule** sends the leads of a segment to a pool, and a member's
//! **territory** is the segment of leads that member may receive.
//!
//! The whole configuration is one versioned document ([`RoutingConfig`]), validated as a whole
//! so that a rule can never point at a pool that does not exist, and every lead has a pool.

use super::facts::LeadFacts;
use crate::{notify::NotifyTarget, RepId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// How a pool shares its leads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Equal turns; weights are ignored.
    #[default]
    RoundRobin,
    /// Turns in proportion to the members' weights.
    WeightedRoundRobin,
}

/// What a rep who was unavailable (out of office, outside hours, at cap) gets on return.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Returning {
    /// The rep rejoins the rotation level with the others: the leads missed while away are not
    /// made up.
    #[default]
    RejoinLevel,
    /// The rep gets the leads missed while away, ahead of the others, until level again.
    CatchUp,
}

/// Conditions on a lead's facts; each list that is not empty must contain the lead's value
/// (compared without regard to case), and a condition on a fact the lead lacks is not met.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    /// ISO 3166-1 alpha-2 country codes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub countries: Vec<String>,
    /// Industries.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub industries: Vec<String>,
    /// Grades (`A`..`F`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub grades: Vec<String>,
    /// Smallest company head count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_employees: Option<u32>,
    /// Largest company head count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_employees: Option<u32>,
}

/// The fact a segment condition is about, named in exclusion reasons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dimension {
    /// Country.
    Country,
    /// Industry.
    Industry,
    /// Grade.
    Grade,
    /// Company size.
    CompanySize,
}

impl Segment {
    /// The first condition the lead does not meet; `None` when it is in the segment.
    pub fn miss(&self, facts: &LeadFacts) -> Option<Dimension> {
        if !one_of(&self.countries, facts.country.as_deref()) {
            return Some(Dimension::Country);
        }
        if !one_of(&self.industries, facts.industry.as_deref()) {
            return Some(Dimension::Industry);
        }
        if !one_of(&self.grades, facts.grade.as_deref()) {
            return Some(Dimension::Grade);
        }
        let sized = self.min_employees.is_some() || self.max_employees.is_some();
        if sized && !facts.employees.is_some_and(|n| self.fits_size(n)) {
            return Some(Dimension::CompanySize);
        }
        None
    }

    fn fits_size(&self, employees: u32) -> bool {
        self.min_employees.is_none_or(|min| employees >= min)
            && self.max_employees.is_none_or(|max| employees <= max)
    }

    fn validate(&self, place: &str) -> Result<(), ConfigError> {
        if let (Some(min), Some(max)) = (self.min_employees, self.max_employees) {
            if min > max {
                return Err(ConfigError::SizeRange(place.to_owned()));
            }
        }
        Ok(())
    }
}

fn one_of(allowed: &[String], value: Option<&str>) -> bool {
    allowed.is_empty()
        || value.is_some_and(|v| {
            allowed
                .iter()
                .any(|a| a.trim().eq_ignore_ascii_case(v.trim()))
        })
}

/// One member of a pool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolMember {
    /// The rep.
    pub rep: RepId,
    /// Share of the turns under weighted round robin, 1 to 100.
    #[serde(default = "one")]
    pub weight: u32,
    /// The leads this member may receive; `None` for any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub territory: Option<Segment>,
    /// At most this many new leads per day (the rep's local day).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_per_day: Option<u32>,
    /// At most this many open leads at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_open: Option<u32>,
}

fn one() -> u32 {
    1
}

impl PoolMember {
    /// A member with weight 1, no territory and no caps.
    pub fn new(rep: impl Into<RepId>) -> Self {
        Self {
            rep: rep.into(),
            weight: 1,
            territory: None,
            max_per_day: None,
            max_open: None,
        }
    }
}

/// A team that shares leads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pool {
    /// A stable id (`emea_smb`).
    pub id: String,
    /// How turns are shared.
    #[serde(default)]
    pub strategy: Strategy,
    /// The members. Their order means nothing: turns are kept per rep id.
    pub members: Vec<PoolMember>,
    /// Send a lead whose company already has an owner to that owner, when they are eligible.
    #[serde(default)]
    pub account_match: bool,
    /// What a rep back from an absence gets.
    #[serde(default)]
    pub returning: Returning,
    /// Where a lead goes when nobody is eligible.
    pub overflow_queue: String,
    /// Who hears about breaches and overflow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manager: Option<RepId>,
    /// The team's channel: where notices go for a rep without a target of their own, and
    /// overflow notices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify: Option<NotifyTarget>,
}

impl Pool {
    /// The member's weight under this pool's strategy.
    pub fn weight_of(&self, member: &PoolMember) -> u32 {
        match self.strategy {
            Strategy::RoundRobin => 1,
            Strategy::WeightedRoundRobin => member.weight,
        }
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.id.trim().is_empty() {
            return Err(ConfigError::EmptyId("pool"));
        }
        if self.overflow_queue.trim().is_empty() {
            return Err(ConfigError::NoOverflowQueue(self.id.clone()));
        }
        if let Some(target) = &self.notify {
            target.validate().map_err(|reason| ConfigError::Target {
                pool: self.id.clone(),
                reason,
            })?;
        }

        let mut seen = BTreeSet::new();
        for m in &self.members {
            let place = || format!("pool {} member {}", self.id, m.rep);
            if !seen.insert(&m.rep) {
                return Err(ConfigError::DuplicateMember(place()));
            }
            if !(1..=MAX_WEIGHT).contains(&m.weight) {
                return Err(ConfigError::Weight {
                    place: place(),
                    weight: m.weight,
                });
            }
            if let Some(t) = &m.territory {
                t.validate(&place())?;
            }
        }
        Ok(())
    }
}

/// The largest weight a member may have.
pub const MAX_WEIGHT: u32 = 100;

/// Sends the leads of a segment to a pool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolRule {
    /// A stable id, recorded in decisions.
    pub id: String,
    /// The leads it applies to.
    pub segment: Segment,
    /// The pool they go to.
    pub pool: String,
}

/// Every pool and the rules between them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoutingConfig {
    /// The pools.
    pub pools: Vec<Pool>,
    /// Tried in order; the first whose segment holds the lead picks its pool.
    #[serde(default)]
    pub rules: Vec<PoolRule>,
    /// The pool of a lead no rule matches.
    pub default_pool: String,
}

/// The pool picked for a lead, and the rule that picked it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolChoice<'a> {
    /// The pool.
    pub pool: &'a Pool,
    /// The rule; `None` when the default pool was used.
    pub rule: Option<&'a str>,
}

/// Why a routing configuration is refused. Messages name pools, rules and reps by id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// Something without an id.
    #[error("a {0} has an empty id")]
    EmptyId(&'static str),
    /// Two pools or two rules share an id.
    #[error("{0} is defined twice")]
    Duplicate(String),
    /// A rep listed twice in one pool.
    #[error("{0} is listed twice")]
    DuplicateMember(String),
    /// A weight outside 1..=100.
    #[error("{place}: weight must be between 1 and 100, not {weight}")]
    Weight {
        /// Which member.
        place: String,
        /// The weight given.
        weight: u32,
    },
    /// A pool without an overflow queue could drop a lead.
    #[error("pool {0} has no overflow queue")]
    NoOverflowQueue(String),
    /// A rule or the default names a pool that does not exist.
    #[error("{0} names a pool that does not exist")]
    UnknownPool(String),
    /// A company-size range whose minimum is above its maximum.
    #[error("{0}: min_employees is above max_employees")]
    SizeRange(String),
    /// A pool's notification target is not a usable URL.
    #[error("pool {pool}: notify: {reason}")]
    Target {
        /// The pool.
        pool: String,
        /// What is wrong.
        reason: crate::notify::TargetError,
    },
}

impl RoutingConfig {
    /// Checks pools, rules, and that every pool named exists.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut pools = BTreeSet::new();
        for p in &self.pools {
            p.validate()?;
            if !pools.insert(p.id.as_str()) {
                return Err(ConfigError::Duplicate(format!("pool {}", p.id)));
            }
        }
        if !pools.contains(self.default_pool.as_str()) {
            return Err(ConfigError::UnknownPool("default_pool".into()));
        }

        let mut rules = BTreeSet::new();
        for r in &self.rules {
            let place = format!("rule {}", r.id);
            if r.id.trim().is_empty() {
                return Err(ConfigError::EmptyId("rule"));
            }
            if !rules.insert(r.id.as_str()) {
                return Err(ConfigError::Duplicate(place));
            }
            if !pools.contains(r.pool.as_str()) {
                return Err(ConfigError::UnknownPool(place));
            }
            r.segment.validate(&place)?;
        }
        Ok(())
    }

    /// The pool by id.
    pub fn pool(&self, id: &str) -> Option<&Pool> {
        self.pools.iter().find(|p| p.id == id)
    }

    /// The pool for a lead: the first rule whose segment holds it, else the default pool.
    /// `None` only for a configuration that failed [`Self::validate`].
    pub fn select_pool(&self, facts: &LeadFacts) -> Option<PoolChoice<'_>> {
        let matched = self.rules.iter().find(|r| r.segment.miss(facts).is_none());
        match matched {
            Some(rule) => self.pool(&rule.pool).map(|pool| PoolChoice {
                pool,
                rule: Some(rule.id.as_str()),
            }),
            None => self
                .pool(&self.default_pool)
                .map(|pool| PoolChoice { pool, rule: None }),
        }
    }
}
