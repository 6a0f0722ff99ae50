//! Creating the table and the queues outside CloudFormation: for the emulator in tests and for
//! trying the AWS adapters by hand. The shapes here must match `template.yaml` (same key
//! schema, index names and projections, same redrive); `infra/TABLE.md` documents both.

use crate::{dynamo::index, sqs::TopicQueues};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use ports::Topic;
use std::collections::HashMap;

/// A failure while creating resources (setup only; not a port error).
#[derive(Debug, thiserror::Error)]
#[error("failed to {action}")]
pub struct SetupError {
    action: String,
    #[source]
    source: Box<dyn std::error::Error + Send + Sync>,
}

fn failed(
    action: &str,
) -> impl FnOnce(Box<dyn std::error::Error + Send + Sync>) -> SetupError + '_ {
    move |source| SetupError {
        action: action.to_owned(),
        source,
    }
}

/// Indexes as (name, partition key, sort key).
const INDEXES: [(&str, &str, Option<&str>); 6] = [
    (index::BY_EMAIL, "email", None),
    (index::BY_OWNER, "open_owner", Some("updated_at")),
    (index::BY_CREATED, "kind", Some("created")),
    (index::BY_DAY, "rec_day", Some("rec_key")),
    (index::BY_EFFECTIVE_DAY, "eff_day", Some("eff_key")),
    (index::BY_DUE, "idx_coll", Some("idx")),
];

/// Creates the journey table (on-demand, with the six indexes and TTL on `expires_at`).
pub async fn create_table(client: &aws_sdk_dynamodb::Client, name: &str) -> Result<(), SetupError> {
    let mut create = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key("pk", KeyType::Hash)?)
        .key_schema(key("sk", KeyType::Range)?);

    let mut attributes = vec!["pk", "sk"];
    for (index_name, pk, sk) in INDEXES {
        attributes.push(pk);
        let mut gsi = GlobalSecondaryIndex::builder()
            .index_name(index_name)
            .key_schema(key(pk, KeyType::Hash)?)
            .projection(
                Projection::builder()
                    .projection_type(ProjectionType::All)
                    .build(),
            );
        if let Some(sk) = sk {
            attributes.push(sk);
            gsi = gsi.key_schema(key(sk, KeyType::Range)?);
        }
        create = create.global_secondary_indexes(
            gsi.build()
                .map_err(|e| failed("build an index")(e.into()))?,
        );
    }
    for attribute in attributes {
        let def = AttributeDefinition::builder()
            .attribute_name(attribute)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .map_err(|e| failed("define an attribute")(e.into()))?;
        create = create.attribute_definitions(def);
    }
    create
        .send()
        .await
        .map_err(|e| failed("create the table")(e.into()))?;

    let ttl = TimeToLiveSpecification::builder()
        .attribute_name(crate::item::TTL)
        .enabled(true)
        .build()
        .map_err(|e| failed("define TTL")(e.into()))?;
    client
        .update_time_to_live()
        .table_name(name)
        .time_to_live_specification(ttl)
        .send()
        .await
        .map_err(|e| failed("enable TTL")(e.into()))?;
    Ok(())
}

fn key(name: &str, kind: KeyType) -> Result<KeySchemaElement, SetupError> {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(kind)
        .build()
        .map_err(|e| failed("define a key")(e.into()))
}

/// Creates a queue and its dead-letter queue per topic, named `<prefix>-<topic>` and
/// `<prefix>-<topic>-dlq`, redriving after `max_receives` receives.
pub async fn create_queues(
    client: &aws_sdk_sqs::Client,
    prefix: &str,
    max_receives: u32,
) -> Result<HashMap<Topic, TopicQueues>, SetupError> {
    let mut topics = HashMap::new();
    for topic in Topic::ALL {
        let dlq_url = create_queue(client, &format!("{prefix}-{topic}-dlq"), None).await?;
        let dlq_arn = queue_arn(client, &dlq_url).await?;
        let redrive = serde_json::json!({
            "deadLetterTargetArn": dlq_arn,
            "maxReceiveCount": max_receives.to_string(),
        })
        .to_string();
        let url = create_queue(client, &format!("{prefix}-{topic}"), Some(redrive)).await?;
        topics.insert(
            topic,
            TopicQueues {
                url,
                dead_letter_url: dlq_url,
            },
        );
    }
    Ok(topics)
}

async fn create_queue(
    client: &aws_sdk_sqs::Client,
    name: &str,
    redrive: Option<String>,
) -> Result<String, SetupError> {
    use aws_sdk_sqs::types::QueueAttributeName;

    let mut create = client.create_queue().queue_name(name);
    if let Some(policy) = redrive {
        create = create.attributes(QueueAttributeName::RedrivePolicy, policy);
    }
    let out = create
        .send()
        .await
        .map_err(|e| failed("create a queue")(e.into()))?;
    Ok(out.queue_url().unwrap_or_default().to_owned())
}

async fn queue_arn(client: &aws_sdk_sqs::Client, url: &str) -> Result<String, SetupError> {
    use aws_sdk_sqs::types::QueueAttributeName;

    let out = client
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| failed("read a queue's ARN")(e.into()))?;
    Ok(out
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn))
        .cloned()
        .unwrap_or_default())
}
