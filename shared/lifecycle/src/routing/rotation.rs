//! The rotation: whose turn it is, kept per rep so that nobody's count resets.
//!
//! The **rotation state** of a pool is one document: for each rep who has had a turn, how many
//! leads the rotation gave them and their **finish tag**, plus the pool's **virtual time**.
//! It works as start-time fair queueing: a rep's next turn starts at their finish tag; the
//! eligible rep whose turn starts earliest gets the lead, and their finish tag moves on by
//! `SCALE / weight`, so a rep of weight 3 comes round three times as often as a rep of
//! weight 1. Ties go to the rep with fewer leads from the rotation, then to the lower rep id.
//!
//! Because turns are keyed by rep id and not by a position in a list, adding a rep, removing
//! one or reordering the members leaves everyone else's place as it was. A rep new to the
//! pool starts at the virtual time (level with the others, no back-log). A rep who was
//! unavailable for a while has an old finish tag: with [`Returning::RejoinLevel`] their turn
//! starts no earlier than the virtual time (the missed leads are not made up), with
//! [`Returning::CatchUp`] it starts at the old tag, so they get leads until level.

use super::config::Returning;
use crate::RepId;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The virtual-time length of one turn at weight 1. Divisible by every weight from 1 to 16
/// (and many above), so those strides are exact; for other weights the stride is rounded down,
/// an error of under one part in 720,720 per turn.
pub const SCALE: u64 = 720_720;

/// One rep's place in the rotation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Turns {
    /// Leads the rotation gave this rep (account matches are not counted).
    pub assigned: u64,
    /// Virtual time at which the rep's last turn ended.
    pub finish: u64,
}

/// A pool's rotation, stored as one versioned document and written with an optimistic
/// version check, so two routers never take the same turn.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RotationState {
    /// The pool.
    pub pool: String,
    /// The start of the last turn given.
    pub virtual_time: u64,
    /// Per rep; never pruned, so a rep who leaves and comes back keeps their count.
    #[serde(default)]
    pub reps: BTreeMap<RepId, Turns>,
}

/// Where a candidate stands in the rotation for one lead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Standing {
    /// When the candidate's next turn starts (lower goes first).
    pub turn_starts: u64,
    /// Leads the rotation gave them so far.
    pub assigned: u64,
}

impl RotationState {
    /// An empty rotation for `pool`.
    pub fn new(pool: impl Into<String>) -> Self {
        Self {
            pool: pool.into(),
            ..Self::default()
        }
    }

    /// Where `rep` stands now.
    pub fn standing(&self, rep: &RepId, returning: Returning) -> Standing {
        let Some(turns) = self.reps.get(rep) else {
            let turn_starts = self.virtual_time;
            return Standing {
                turn_starts,
                assigned: 0,
            };
        };
        let turn_starts = match returning {
            Returning::RejoinLevel => turns.finish.max(self.virtual_time),
            Returning::CatchUp => turns.finish,
        };
        Standing {
            turn_starts,
            assigned: turns.assigned,
        }
    }

    /// Gives `rep` the turn it stood at.
    pub fn take_turn(&mut self, rep: &RepId, standing: Standing, weight: u32) {
        let stride = SCALE / u64::from(weight.max(1));
        let turns = self.reps.entry(rep.clone()).or_default();
        turns.assigned += 1;
        turns.finish = standing.turn_starts + stride;
        self.virtual_time = self.virtual_time.max(standing.turn_starts);
    }
}
