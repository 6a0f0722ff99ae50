//! [`SqsQueue`]: the SQS adapter of [`Queue`] and [`QueueConsumer`].
//!
//! Each topic is one standard queue with a dead-letter queue; the queue's redrive policy moves a
//! message there once it has been received `maxReceiveCount` times without being deleted. In
//! AWS, Lambda's event source mapping receives and deletes (the handlers report partial batch
//! failures); the consumer side here serves the tests and the local tools.
//!
//! A message's own id travels as the message attribute [`ID_ATTRIBUTE`], so consumers dedupe on
//! the id the sender chose, not on SQS's. Bodies hold ids, never personal data, so nothing here
//! ever needs redacting; the adapter does not log bodies all the same.
//!
//! A failed message ([`QueueConsumer::fail`]) comes back after a back-off that doubles with each
//! receive, from [`SqsQueue::with_backoff`]'s first wait up to its longest (1 s to 60 s by
//! default, as the embedded queues), so a message that fails for a passing reason (a throttled
//! table, a version conflict storm) is not retried at once, `maxReceiveCount` times in a row.
//! The receive count comes from the receipt: [`Delivery::receipt`] is `<receive
//! count>/<SQS receipt handle>`, opaque to callers. In AWS, Lambda's event source mapping
//! receives instead of this adapter, and a record reported as failed comes back when the
//! queue's visibility timeout (`template.yaml`) ends.

use crate::error::queue_error;
use async_trait::async_trait;
use aws_sdk_sqs::{
    types::{MessageAttributeValue, MessageSystemAttributeName, SendMessageBatchRequestEntry},
    Client,
};
use ports::{Delivery, Message, Queue, QueueConsumer, QueueError, Topic};
use std::collections::{BTreeMap, HashMap, HashSet};

/// The message attribute that carries [`Message::id`].
pub const ID_ATTRIBUTE: &str = "id";

/// SQS's limit on the entries of one `SendMessageBatch`.
const BATCH: usize = 10;

/// SQS's limit on a message's delay.
const MAX_DELAY_SECONDS: u32 = 900;

/// How often a send retries the entries SQS failed for its own reasons (not the sender's).
const SEND_ATTEMPTS: usize = 3;

/// SQS's limit on a visibility timeout (12 hours).
const MAX_VISIBILITY_SECONDS: u32 = 43_200;

/// The queue URLs of one topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicQueues {
    /// The queue.
    pub url: String,
    /// Its dead-letter queue.
    pub dead_letter_url: String,
}

/// The SQS adapter. Cheap to clone; build it once per cold start.
#[derive(Debug, Clone)]
pub struct SqsQueue {
    client: Client,
    topics: HashMap<Topic, TopicQueues>,
    wait_seconds: i32,
    backoff: Backoff,
}

/// How long a failed message stays hidden: `first * 2^(receives - 1)` seconds, at most `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Backoff {
    first: u32,
    max: u32,
}

impl Backoff {
    fn seconds(self, receives: u32) -> u32 {
        let doublings = receives.saturating_sub(1).min(31);
        self.first.saturating_mul(1u32 << doublings).min(self.max)
    }
}

impl SqsQueue {
    /// An adapter over the given queues. A topic without a queue answers
    /// [`QueueError::Invalid`], so a function only needs the queues it uses.
    pub fn new(client: Client, topics: HashMap<Topic, TopicQueues>) -> Self {
        Self {
            client,
            topics,
            wait_seconds: 1,
            backoff: Backoff { first: 1, max: 60 },
        }
    }

    /// The queues named by the environment, as `template.yaml` sets it:
    /// `JOURNEY_QUEUE_<TOPIC>` and `JOURNEY_DLQ_<TOPIC>` (topic in upper case, e.g.
    /// `JOURNEY_QUEUE_ACTIVITIES`). Topics without a variable are left out.
    pub fn from_env(client: Client) -> Self {
        let topics = Topic::ALL
            .into_iter()
            .filter_map(|topic| {
                let name = topic.as_str().to_uppercase();
                let url = std::env::var(format!("JOURNEY_QUEUE_{name}")).ok()?;
                let dead_letter_url =
                    std::env::var(format!("JOURNEY_DLQ_{name}")).unwrap_or_default();
                Some((
                    topic,
                    TopicQueues {
                        url,
                        dead_letter_url,
                    },
                ))
            })
            .collect();
        Self::new(client, topics)
    }

    /// Long-poll time of [`QueueConsumer::receive`] (default 1 s; 0 for short polls, which on
    /// SQS may miss messages that exist).
    pub fn with_wait_seconds(mut self, seconds: u32) -> Self {
        self.wait_seconds = i32::try_from(seconds.min(20)).unwrap_or(20);
        self
    }

    /// The back-off of [`QueueConsumer::fail`]: `first_seconds` after the first receive,
    /// doubling with each further one, never more than `max_seconds` (nor SQS's 12 hours).
    pub fn with_backoff(mut self, first_seconds: u32, max_seconds: u32) -> Self {
        let max = max_seconds.min(MAX_VISIBILITY_SECONDS);
        self.backoff = Backoff {
            first: first_seconds.min(max),
            max,
        };
        self
    }

    fn queues(&self, topic: Topic) -> Result<&TopicQueues, QueueError> {
        self.topics
            .get(&topic)
            .ok_or_else(|| QueueError::Invalid(format!("no queue configured for {topic}")))
    }

    /// Sends one batch of at most ten messages of one queue, retrying entries SQS failed on
    /// its side.
    async fn send_batch(&self, url: &str, batch: &[&Message]) -> Result<(), QueueError> {
        let mut pending: Vec<(usize, &Message)> = batch.iter().copied().enumerate().collect();
        for _ in 0..SEND_ATTEMPTS {
            let entries = pending
                .iter()
                .map(|(i, m)| entry(*i, m))
                .collect::<Result<Vec<_>, _>>()?;
            let out = self
                .client
                .send_message_batch()
                .queue_url(url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(queue_error)?;

            let failed: HashSet<&str> = out.failed().iter().map(|f| f.id()).collect();
            if let Some(f) = out.failed().iter().find(|f| f.sender_fault()) {
                return Err(QueueError::Invalid(format!(
                    "message refused: {}",
                    f.code()
                )));
            }
            pending.retain(|(i, _)| failed.contains(i.to_string().as_str()));
            if pending.is_empty() {
                return Ok(());
            }
        }
        Err(QueueError::Unavailable(
            format!(
                "{} messages not accepted after {SEND_ATTEMPTS} attempts",
                pending.len()
            )
            .into(),
        ))
    }

    async fn receive_from(
        &self,
        url: &str,
        max: usize,
        visibility_seconds: u32,
        wait_seconds: i32,
    ) -> Result<Vec<Delivery>, QueueError> {
        let out = self
            .client
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(i32::try_from(max.clamp(1, BATCH)).unwrap_or(10))
            .visibility_timeout(i32::try_from(visibility_seconds).unwrap_or(i32::MAX))
            .wait_time_seconds(wait_seconds)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .message_attribute_names(ID_ATTRIBUTE)
            .send()
            .await
            .map_err(queue_error)?;
        Ok(out.messages().iter().map(delivery).collect())
    }
}

/// One batch entry; the entry id is its position (SQS restricts entry ids' characters).
fn entry(i: usize, m: &Message) -> Result<SendMessageBatchRequestEntry, QueueError> {
    if m.delay_seconds > MAX_DELAY_SECONDS {
        return Err(QueueError::Invalid(format!(
            "delay of {} s exceeds SQS's {MAX_DELAY_SECONDS} s",
            m.delay_seconds
        )));
    }
    let id = MessageAttributeValue::builder()
        .data_type("String")
        .string_value(&m.id)
        .build()
        .map_err(|e| QueueError::Invalid(e.to_string()))?;
    SendMessageBatchRequestEntry::builder()
        .id(i.to_string())
        .message_body(&m.body)
        .delay_seconds(i32::try_from(m.delay_seconds).unwrap_or(0))
        .message_attributes(ID_ATTRIBUTE, id)
        .build()
        .map_err(|e| QueueError::Invalid(e.to_string()))
}

fn delivery(m: &aws_sdk_sqs::types::Message) -> Delivery {
    let id = m
        .message_attributes()
        .and_then(|a| a.get(ID_ATTRIBUTE))
        .and_then(|v| v.string_value())
        .or(m.message_id())
        .unwrap_or_default();
    let receive_count = m
        .attributes()
        .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    Delivery {
        id: id.to_owned(),
        body: m.body().unwrap_or_default().to_owned(),
        receive_count,
        receipt: format!("{receive_count}/{}", m.receipt_handle().unwrap_or_default()),
    }
}

/// Splits one of our receipts into the receive count and SQS's receipt handle.
fn parse_receipt(receipt: &str) -> Result<(u32, &str), QueueError> {
    receipt
        .split_once('/')
        .and_then(|(count, handle)| Some((count.parse().ok()?, handle)))
        .filter(|(_, handle)| !handle.is_empty())
        .ok_or_else(|| QueueError::Invalid("not a receipt of this queue".into()))
}

#[async_trait]
impl Queue for SqsQueue {
    /// Groups the messages by queue and sends them ten at a time.
    async fn send(&self, messages: &[Message]) -> Result<(), QueueError> {
        let mut by_topic: BTreeMap<Topic, Vec<&Message>> = BTreeMap::new();
        for m in messages {
            by_topic.entry(m.topic).or_default().push(m);
        }
        for (topic, batch) in by_topic {
            let url = self.queues(topic)?.url.clone();
            for chunk in batch.chunks(BATCH) {
                self.send_batch(&url, chunk).await?;
            }
        }
        Ok(())
    }
}

#[async_trait]
impl QueueConsumer for SqsQueue {
    async fn receive(
        &self,
        topic: Topic,
        max: usize,
        visibility_seconds: u32,
    ) -> Result<Vec<Delivery>, QueueError> {
        let url = self.queues(topic)?.url.clone();
        self.receive_from(&url, max, visibility_seconds, self.wait_seconds)
            .await
    }

    async fn ack(&self, topic: Topic, receipt: &str) -> Result<(), QueueError> {
        let (_, handle) = parse_receipt(receipt)?;
        self.client
            .delete_message()
            .queue_url(&self.queues(topic)?.url)
            .receipt_handle(handle)
            .send()
            .await
            .map_err(queue_error)?;
        Ok(())
    }

    /// Makes the message visible again after the back-off of its receive count (see
    /// [`SqsQueue::with_backoff`]); SQS's redrive policy moves it to the dead-letter queue when
    /// a later receive would exceed `maxReceiveCount`.
    async fn fail(&self, topic: Topic, receipt: &str, reason: &str) -> Result<(), QueueError> {
        let (receives, handle) = parse_receipt(receipt)?;
        let hidden = self.backoff.seconds(receives);
        tracing::debug!(%topic, reason, receives, hidden, "releasing a failed message");
        self.client
            .change_message_visibility()
            .queue_url(&self.queues(topic)?.url)
            .receipt_handle(handle)
            .visibility_timeout(i32::try_from(hidden).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(queue_error)?;
        Ok(())
    }

    /// Peeks at the dead-letter queue: receives with a zero visibility timeout (the messages
    /// stay where they are) until a pass brings nothing new.
    async fn dead_letters(&self, topic: Topic) -> Result<Vec<Delivery>, QueueError> {
        let url = self.queues(topic)?.dead_letter_url.clone();
        if url.is_empty() {
            return Err(QueueError::Invalid(format!(
                "no dead-letter queue for {topic}"
            )));
        }
        let mut seen = HashSet::new();
        let mut found = Vec::new();
        loop {
            let batch = self.receive_from(&url, BATCH, 0, 0).await?;
            let before = found.len();
            for d in batch {
                if seen.insert(d.id.clone()) {
                    found.push(d);
                }
            }
            if found.len() == before {
                return Ok(found);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backoff_doubles_with_each_receive_up_to_its_longest() {
        let backoff = Backoff { first: 2, max: 20 };
        let waits: Vec<u32> = (1..=6).map(|n| backoff.seconds(n)).collect();
        assert_eq!(waits, vec![2, 4, 8, 16, 20, 20]);
        assert_eq!(backoff.seconds(u32::MAX), 20);
    }

    #[test]
    fn a_receipt_carries_the_receive_count_beside_the_sqs_handle() {
        assert_eq!(parse_receipt("3/AQEB+x/y==").unwrap(), (3, "AQEB+x/y=="));
        for bad in ["", "AQEBxy", "x/AQEB", "3/"] {
            assert!(parse_receipt(bad).is_err(), "{bad:?}");
        }
    }
}
