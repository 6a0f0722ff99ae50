//! Placeholder, replaced once the store adapters land.
