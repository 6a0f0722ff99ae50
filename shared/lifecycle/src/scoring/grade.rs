//! The grade: fit, from A (best) to F, from who the lead is.
//!
//! Each [`GradeRule`] looks at one fact of the lead (job title, company size, industry,
//! country, e-mail domain) and gives points when it matches; the sum falls in a band that gives
//! the letter. Rules can share a `group` (e.g. `seniority`), in which case only the first rule of
//! the group that matches counts, so "Chief Marketing Officer, Director" is not counted twice.
//! Every grade lists the rules that gave it.

use super::pattern;
use crate::Lead;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A fit grade. `A` is the best; the derived order puts `A` first, so "at or above `B`" is
/// `grade <= GradeLetter::B`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum GradeLetter {
    /// Best fit.
    A,
    /// Good fit.
    B,
    /// Some fit.
    C,
    /// Weak fit.
    D,
    /// Poor fit.
    E,
    /// No fit.
    F,
}

impl GradeLetter {
    /// Whether this grade is at or above `other` (A is above B).
    pub fn at_least(self, other: GradeLetter) -> bool {
        self <= other
    }

    /// The letter as text.
    pub fn as_str(self) -> &'static str {
        match self {
            GradeLetter::A => "A",
            GradeLetter::B => "B",
            GradeLetter::C => "C",
            GradeLetter::D => "D",
            GradeLetter::E => "E",
            GradeLetter::F => "F",
        }
    }
}

impl fmt::Display for GradeLetter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The grade rules and the bands that turn points into a letter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GradeRules {
    /// The rules, in order (order matters within a group).
    pub rules: Vec<GradeRule>,
    /// The least points for each letter; below `e` the grade is F.
    pub bands: GradeBands,
}

/// The least points for each letter.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GradeBands {
    /// A from here.
    pub a: f64,
    /// B from here.
    pub b: f64,
    /// C from here.
    pub c: f64,
    /// D from here.
    pub d: f64,
    /// E from here; F below.
    pub e: f64,
}

/// One fit rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GradeRule {
    /// Stable id, shown on the grade.
    pub id: String,
    /// Only the first matching rule of a group counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// The fact looked at.
    pub field: FitField,
    /// How it must match.
    #[serde(rename = "match")]
    pub matcher: FitMatch,
    /// Points when it matches.
    pub points: f64,
}

/// A fact about the lead that grading looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FitField {
    /// Job title (seniority and function).
    Title,
    /// Company size (the first number of a band such as `51-200`).
    CompanySize,
    /// Industry.
    Industry,
    /// Country.
    Country,
    /// The domain of the lead's e-mail.
    EmailDomain,
}

/// How a fact must match.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum FitMatch {
    /// Any of these phrases occurs as whole words (case-insensitive, any language).
    Words {
        /// The phrases.
        any: Vec<String>,
    },
    /// Equals one of these (case-insensitive).
    OneOf {
        /// The values.
        any: Vec<String>,
    },
    /// A number within `[min, max]` (either bound may be open).
    Range {
        /// Least value.
        #[serde(default)]
        min: Option<f64>,
        /// Greatest value.
        #[serde(default)]
        max: Option<f64>,
    },
    /// The e-mail domain is a free webmail service (`gmail.com`, `yahoo.de`, `gmx.at`): see
    /// the list in `pattern.rs`, whose reach and limits are stated there.
    FreeMail,
    /// The e-mail domain (or a domain above it) is a disposable, throwaway service, by the list
    /// the `mailchecker` crate maintains.
    DisposableMail,
    /// The fact is unknown (empty or not answered).
    Missing,
    /// The fact is known, whatever it is (after a group's more specific rules: "any other
    /// e-mail domain is a business domain").
    Present,
}

/// The facts a grade is computed from. No personal data beyond what the rules need; none of it
/// is ever logged.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FitFacts<'a> {
    /// Job title.
    pub title: Option<&'a str>,
    /// Company size as given.
    pub company_size: Option<&'a str>,
    /// Industry.
    pub industry: Option<&'a str>,
    /// Country.
    pub country: Option<&'a str>,
    /// E-mail domain.
    pub email_domain: Option<&'a str>,
}

impl<'a> FitFacts<'a> {
    /// The facts of a stored lead.
    pub fn of(lead: &'a Lead) -> Self {
        let p = &lead.profile;
        Self {
            title: p.title.as_deref(),
            company_size: p.company_size.as_deref(),
            industry: p.industry.as_deref(),
            country: p.country.as_deref(),
            email_domain: lead
                .email
                .as_ref()
                .and_then(|e| e.as_str().rsplit_once('@'))
                .map(|(_, domain)| domain),
        }
    }

    fn get(&self, field: FitField) -> Option<&'a str> {
        let value = match field {
            FitField::Title => self.title,
            FitField::CompanySize => self.company_size,
            FitField::Industry => self.industry,
            FitField::Country => self.country,
            FitField::EmailDomain => self.email_domain,
        };
        value.map(str::trim).filter(|v| !v.is_empty())
    }
}

/// A grade rule that counted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppliedRule {
    /// The rule's id.
    pub id: String,
    /// The points it gave.
    pub points: f64,
}

/// A lead's grade and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Grade {
    /// The letter.
    pub letter: GradeLetter,
    /// The fit points summed.
    pub points: f64,
    /// The rule-set version that graded.
    pub rule_version: u32,
    /// The rules that matched, in rule order.
    pub rules_applied: Vec<AppliedRule>,
}

impl GradeRules {
    /// Grades the facts.
    pub fn grade(&self, facts: &FitFacts<'_>, rule_version: u32) -> Grade {
        let mut applied: Vec<AppliedRule> = Vec::new();
        let mut groups_taken: Vec<&str> = Vec::new();
        for rule in &self.rules {
            if let Some(group) = rule.group.as_deref() {
                if groups_taken.contains(&group) {
                    continue;
                }
            }
            if !rule.matches(facts) {
                continue;
            }
            groups_taken.extend(rule.group.as_deref());
            applied.push(AppliedRule {
                id: rule.id.clone(),
                points: rule.points,
            });
        }

        let points = applied.iter().map(|r| r.points).sum();
        Grade {
            letter: self.bands.letter(points),
            points,
            rule_version,
            rules_applied: applied,
        }
    }

    pub(super) fn check(&self, problems: &mut Vec<String>) {
        let b = self.bands;
        let bands = [b.a, b.b, b.c, b.d, b.e];
        if bands.iter().any(|v| !v.is_finite()) || bands.windows(2).any(|w| w[0] < w[1]) {
            problems.push("grade.bands must be finite and a >= b >= c >= d >= e".to_owned());
        }
        for (i, rule) in self.rules.iter().enumerate() {
            if rule.id.trim().is_empty() {
                problems.push(format!("grade.rules[{i}].id is empty"));
            }
            if self.rules[..i].iter().any(|r| r.id == rule.id) {
                problems.push(format!("grade.rules[{i}] ({:?}): id is repeated", rule.id));
            }
            if !rule.points.is_finite() {
                problems.push(format!(
                    "grade.rules[{i}] ({:?}): points must be finite",
                    rule.id
                ));
            }
        }
    }
}

impl GradeBands {
    /// The letter for `points`.
    pub fn letter(&self, points: f64) -> GradeLetter {
        [
            (self.a, GradeLetter::A),
            (self.b, GradeLetter::B),
            (self.c, GradeLetter::C),
            (self.d, GradeLetter::D),
            (self.e, GradeLetter::E),
        ]
        .into_iter()
        .find(|(least, _)| points >= *least)
        .map_or(GradeLetter::F, |(_, letter)| letter)
    }
}

impl GradeRule {
    fn matches(&self, facts: &FitFacts<'_>) -> bool {
        let value = facts.get(self.field);
        match (&self.matcher, value) {
            (FitMatch::Missing, value) => value.is_none(),
            (FitMatch::Present, value) => value.is_some(),
            (_, None) => false,
            (FitMatch::FreeMail, Some(v)) => pattern::is_free_mail_domain(v),
            (FitMatch::DisposableMail, Some(v)) => pattern::is_disposable_domain(v),
            (FitMatch::Words { any }, Some(v)) => {
                let text = pattern::words(v);
                any.iter().any(|phrase| pattern::has_phrase(&text, phrase))
            }
            (FitMatch::OneOf { any }, Some(v)) => {
                let v = v.to_lowercase();
                any.iter().any(|a| a.to_lowercase() == v)
            }
            (FitMatch::Range { min, max }, Some(v)) => pattern::first_number(v)
                .is_some_and(|n| min.is_none_or(|m| n >= m) && max.is_none_or(|m| n <= m)),
        }
    }
}
