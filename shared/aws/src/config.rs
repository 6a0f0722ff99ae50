//! Building the SDK clients: once per cold start, then shared by every invocation.
//!
//! A Lambda's `main` calls [`Clients::from_env`] before `run`, so the credentials, the
//! HTTPS connection pool and the endpoint resolution are paid once per container, not once per
//! event. `JOURNEY_AWS_ENDPOINT` points both clients at a local emulator (moto) instead of AWS;
//! nothing else changes, so the same adapter code runs against both.

use aws_config::{
    environment::{EnvironmentVariableCredentialsProvider, EnvironmentVariableRegionProvider},
    meta::region::ProvideRegion,
    retry::RetryConfig,
    timeout::TimeoutConfig,
    BehaviorVersion, Region, SdkConfig,
};
use aws_sdk_dynamodb::config::{Credentials, SharedCredentialsProvider};
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
    /// provides them) and builds both clients, honouring `JOURNEY_AWS_ENDPOINT`. Fails only
    /// when the system's root certificates cannot be read.
    pub async fn from_env() -> Result<Self, std::io::Error> {
        let endpoint = std::env::var(ENDPOINT_ENV).ok().filter(|e| !e.is_empty());
        Ok(Self::from_config(&sdk_config(endpoint.as_deref()).await?))
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
/// timeouts, region and credentials from the environment, and the endpoint override when one is
/// given. Against an emulator, a region and dummy credentials are filled in when the
/// environment has none, so tests need no AWS setup.
///
/// Why not `aws_config::defaults(..).load()`: that walks the whole default chain (profile
/// files, SSO, STS web identity, the container and instance metadata services), and its code
/// is in every bootstrap that calls it, about half a megabyte. A Lambda's region and
/// credentials are always in its environment (`AWS_REGION`, `AWS_ACCESS_KEY_ID`,
/// `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`), which is the first place the chain looks; the
/// chain's other sources never answer there. Nor is `AWS_ENDPOINT_URL` read: the endpoint
/// override is `JOURNEY_AWS_ENDPOINT` alone. The clients fill in the rest (the tokio sleep,
/// the identity cache) from the SDK's defaults, as `load` would; the HTTPS client is ours
/// ([`crate::http`]). Fails only when the system's root certificates cannot be read.
pub async fn sdk_config(endpoint: Option<&str>) -> Result<SdkConfig, std::io::Error> {
    let mut region = EnvironmentVariableRegionProvider::new().region().await;
    let mut credentials =
        SharedCredentialsProvider::new(EnvironmentVariableCredentialsProvider::new());

    if endpoint.is_some() {
        region = region.or_else(|| Some(Region::new("us-east-1")));
        if std::env::var_os("AWS_ACCESS_KEY_ID").is_none() {
            let dummy = Credentials::new("test", "test", None, None, "emulator");
            credentials = SharedCredentialsProvider::new(dummy);
        }
    }

    let mut config = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(region)
        .credentials_provider(credentials)
        .http_client(crate::http::https_client()?)
        .retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(2))
                .operation_attempt_timeout(Duration::from_secs(5))
                .build(),
        );
    if let Some(url) = endpoint {
        config = config.endpoint_url(url);
    }
    Ok(config.build())
}
