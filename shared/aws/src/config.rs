//! Building the SDK clients: once per cold start, then shared by every invocation.
//!
//! A Lambda's `main` calls [`Clients::from_env`] before `run`, so the credential chain, the
//! HTTPS connection pool and the endpoint resolution are paid once per container, not once per
//! event. `JOURNEY_AWS_ENDPOINT` points both clients at a local emulator (moto) instead of AWS;
//! nothing else changes, so the same adapter code runs against both.

use aws_config::{retry::RetryConfig, timeout::TimeoutConfig, BehaviorVersion, SdkConfig};
use std::time::Duration;

/// The environment variable that overrides the AWS endpoint (a local emulator).
pub const ENDPOINT_ENV: &str = "JOURNEY_AWS_ENDPOINT";

/// Attempts per call, the first included. The standard retry mode backs off exponentially with
/// jitter and retries throttling and transient errors; a transaction cancelled by a condition is
/// not retried by the SDK (the adapter reads its reasons instead).
const MAX_ATTEMPTS: u32 = 3;

/// The SDK clients the adapters use.
#[derive(Debug, Clone)]
pub struct Clients {
    /// DynamoDB.
    pub dynamodb: aws_sdk_dynamodb::Client,
    /// SQS.
    pub sqs: aws_sdk_sqs::Client,
}

impl Clients {
    /// Loads the shared configuration (region and credentials from the environment, as Lambda
    /// provides them) and builds both clients, honouring `JOURNEY_AWS_ENDPOINT`.
    pub async fn from_env() -> Self {
        let endpoint = std::env::var(ENDPOINT_ENV).ok().filter(|e| !e.is_empty());
        Self::from_config(&sdk_config(endpoint.as_deref()).await)
    }

    /// Builds both clients from an already loaded configuration.
    pub fn from_config(config: &SdkConfig) -> Self {
        Self {
            dynamodb: aws_sdk_dynamodb::Client::new(config),
            sqs: aws_sdk_sqs::Client::new(config),
        }
    }
}

/// The shared SDK configuration: latest behaviour version, an explicit retry policy and
/// timeouts, and the endpoint override when one is given. Against an emulator, a region and
/// dummy credentials are filled in when the environment has none, so tests need no AWS setup.
pub async fn sdk_config(endpoint: Option<&str>) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(2))
                .operation_attempt_timeout(Duration::from_secs(5))
                .build(),
        );

    if let Some(url) = endpoint {
        loader = loader.endpoint_url(url);
        if std::env::var_os("AWS_REGION").is_none() {
            loader = loader.region(aws_config::Region::new("us-east-1"));
        }
        if std::env::var_os("AWS_ACCESS_KEY_ID").is_none() {
            loader = loader.test_credentials();
        }
    }
    loader.load().await
}
