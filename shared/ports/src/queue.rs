//! Queues: how work moves between functions.
//!
//! In production each topic is an SQS queue with a dead-letter queue, and Lambda's event source
//! mapping delivers batches to the handlers. Locally the embedded store keeps the queues in the
//! same file as the data, and the local runner polls them through [`QueueConsumer`]. Messages
//! carry ids, never personal data.

use crate::error::QueueError;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The queues of the system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Topic {
    /// Activities to score (from webhooks and the tracking endpoint).
    Activities,
    /// Leads whose details must be fetched from the provider (Meta Lead Ads).
    LeadFetch,
    /// New MQLs to route.
    Mqls,
    /// Notifications to deliver (rep alerts, manager escalations, scheduled reports).
    Notifications,
    /// Journey events for outside systems (a CRM sync follows this queue).
    JourneyEvents,
}

impl Topic {
    /// Every topic.
    pub const ALL: [Topic; 5] = [
        Topic::Activities,
        Topic::LeadFetch,
        Topic::Mqls,
        Topic::Notifications,
        Topic::JourneyEvents,
    ];

    /// The stable name (queue-name suffix, table value).
    pub fn as_str(self) -> &'static str {
        match self {
            Topic::Activities => "activities",
            Topic::LeadFetch => "lead_fetch",
            Topic::Mqls => "mqls",
            Topic::Notifications => "notifications",
            Topic::JourneyEvents => "journey_events",
        }
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A message to send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Which queue.
    pub topic: Topic,
    /// A unique id (consumers dedupe on it).
    pub id: String,
    /// JSON body; ids, not personal data.
    pub body: String,
    /// Seconds to wait before the message becomes visible.
    #[serde(default)]
    pub delay_seconds: u32,
}

/// A received message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The message id given by the sender.
    pub id: String,
    /// The body.
    pub body: String,
    /// How many times it has been received, this time included.
    pub receive_count: u32,
    /// Handle to acknowledge or release it.
    pub receipt: String,
}

/// Sending side.
#[async_trait]
pub trait Queue: Send + Sync {
    /// Sends messages (any topics). Either all are accepted or an error says which failed.
    async fn send(&self, messages: &[Message]) -> Result<(), QueueError>;
}

/// Receiving side, for the local runner (in AWS, Lambda's event source mapping receives).
#[async_trait]
pub trait QueueConsumer: Send + Sync {
    /// Receives up to `max` visible messages of `topic`, hiding them for `visibility_seconds`.
    async fn receive(
        &self,
        topic: Topic,
        max: usize,
        visibility_seconds: u32,
    ) -> Result<Vec<Delivery>, QueueError>;

    /// Deletes a handled message.
    async fn ack(&self, topic: Topic, receipt: &str) -> Result<(), QueueError>;

    /// Makes a failed message visible again, or moves it to the dead-letter queue once it has
    /// been received `max_receives` times; `reason` is an error class, never personal data.
    async fn fail(&self, topic: Topic, receipt: &str, reason: &str) -> Result<(), QueueError>;

    /// Messages of `topic` in its dead-letter queue.
    async fn dead_letters(&self, topic: Topic) -> Result<Vec<Delivery>, QueueError>;
}
