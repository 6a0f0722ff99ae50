//! The `form-webhook` Lambda: API Gateway (HTTP API) events in, [`form_webhook::Service`]
//! answers out. Everything but the event conversion lives in the library. Meta's leadgen ids go
//! on the `lead_fetch` queue, which the `lead-fetch` binary (`src/bin/lead-fetch.rs`) consumes.
//!
//! Secrets arrive in the environment (`WEBHOOK_SECRETS`, resolved by CloudFormation from
//! Secrets Manager at deploy time; see `infra/README.md`), so no Secrets Manager call is made.

use form_webhook::{Config, Headers, Service, SystemClock, WebhookRequest};
use lambda_http::{service_fn, Body, Error, Request, RequestExt, Response};
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), Error> {
    aws_adapters::logging::init();

    let config = Config::from_env()?;
    let (intake, docs) = adapters::intake().await?;
    let service = Service::new(config, intake, Arc::new(SystemClock)).with_stored_forms(docs);
    let public_base = std::env::var("PUBLIC_BASE_URL").ok();
    lambda_http::run(service_fn(|event: Request| {
        handle(&service, public_base.as_deref(), event)
    }))
    .await
}

async fn handle(
    service: &Service,
    public_base: Option<&str>,
    event: Request,
) -> Result<Response<Body>, Error> {
    let provider = event
        .path_parameters_ref()
        .and_then(|p| p.first("provider").map(str::to_owned))
        .unwrap_or_default();
    let headers = Headers::new(
        event
            .headers()
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
            .collect(),
    );
    let url = public_url(&event, public_base);
    let request = WebhookRequest {
        method: event.method().as_str(),
        provider: &provider,
        url: &url,
        headers: &headers,
        body: event.body().as_ref(),
    };

    let answer = service.handle(&request).await;
    Ok(Response::builder()
        .status(answer.status)
        .header("content-type", answer.content_type)
        .body(Body::from(answer.body))?)
}

/// The URL as the provider called it: HubSpot signs it, so it must be the public one
/// (`PUBLIC_BASE_URL`, e.g. a custom domain), not API Gateway's internal host.
fn public_url(event: &Request, public_base: Option<&str>) -> String {
    let uri = event.uri();
    let path_and_query = uri.path_and_query().map_or("/", |p| p.as_str());
    match public_base {
        Some(base) => format!("{}{path_and_query}", base.trim_end_matches('/')),
        None => uri.to_string(),
    }
}

mod adapters {
    //! Production wiring of the store and queue ports: the DynamoDB table named by
    //! `JOURNEY_TABLE` and the SQS queues the template names (`JOURNEY_AWS_ENDPOINT` points
    //! both at a local emulator).

    use aws_adapters::{Clients, DynamoStore, SqsQueue};
    use form_webhook::Intake;
    use std::sync::Arc;

    /// The DynamoDB + SQS intake, built once per cold start, and the table as the document
    /// store the form settings stored through the API are read from.
    pub(crate) async fn intake(
    ) -> Result<(Intake, Arc<dyn ports::DocumentStore>), lambda_http::Error> {
        let clients = Clients::from_env().await?;
        let queue = Arc::new(SqsQueue::from_env(clients.sqs.clone()));
        let table = std::env::var("JOURNEY_TABLE").map_err(|_| "JOURNEY_TABLE is not set")?;
        let store = Arc::new(DynamoStore::new(clients.dynamodb, table, queue.clone()));
        Ok((Intake::new(store.clone(), queue), store))
    }
}
