//! Identifiers. Each is an opaque string newtype so that a lead id can never be passed where a
//! rep id or a cause id is expected.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wraps an id that was minted elsewhere (a store, a provider, an import file).
            pub fn new(id: impl Into<String>) -> Self {
                Self(id.into())
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self(s.to_owned())
            }
        }
    };
}

string_id!(
    /// A lead's id. Minted by the system (a ULID) or taken from an import file.
    LeadId
);
string_id!(
    /// A sales rep's id.
    RepId
);
string_id!(
    /// The id of the event that caused a transition: a webhook delivery key, an SQS message's
    /// activity id, an API request id. A cause produces a transition at most once.
    CauseId
);
