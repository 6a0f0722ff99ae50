//! The AWS adapters of the ports: [`DynamoStore`] (DynamoDB, one table) implements
//! `JourneyStore` and `DocumentStore`; [`SqsQueue`] implements `Queue` and `QueueConsumer`.
//!
//! A Lambda builds its [`Clients`] once per cold start ([`Clients::from_env`]) and wraps them
//! in the adapters; `JOURNEY_AWS_ENDPOINT` points them at a local emulator instead of AWS. The
//! table layout and its access patterns are documented in `infra/TABLE.md`; [`setup`] creates
//! the same table and queues as `template.yaml` for tests and for trying things by hand.

mod commit;
mod config;
mod dynamo;
mod error;
mod extent;
mod http;
mod item;
pub mod lambda;
pub mod logging;
pub mod metrics;
pub mod setup;
mod sqs;

pub use commit::{plan, Plan, MAX_TRANSACTION_ITEMS};
pub use config::{sdk_config, Clients, ENDPOINT_ENV};
pub use dynamo::DynamoStore;
pub use item::{item_size, transactional_write_units};
pub use sqs::{SqsQueue, TopicQueues, ID_ATTRIBUTE};
