//! Calendly: `Calendly-Webhook-Signature: t=<unix>,v1=<hex HMAC-SHA256(key, t + "." + body)>`,
//! refused outside three minutes. `invitee.created` is a booked demo, a hand raiser. The
//! invitee's answers are `questions_and_answers[]`, UTM is `tracking{}`. Calendly has no event
//! id: the delivery key is `payload.uri`, the invitee.

use super::{json, Extracted, FieldKind, Incoming, Item, RawField};
use crate::{config::Secret, error::WebhookError, verify};
use lifecycle::ActivityKind;
use serde_json::Value;

/// Calendly's suggested tolerance.
const TOLERANCE_SECS: i64 = 180;

pub(crate) fn verify(req: &Incoming<'_>, secret: &Secret) -> Result<(), WebhookError> {
    let header = req
        .headers
        .get("calendly-webhook-signature")
        .ok_or(WebhookError::BadSignature)?;
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => t = Some(value),
            Some(("v1", value)) => v1 = Some(value),
            _ => {}
        }
    }
    let (t, v1) = t.zip(v1).ok_or(WebhookError::BadSignature)?;
    verify::check_hex(secret, &[t.as_bytes(), b".", req.body], v1)?;
    verify::check_fresh(verify::parse_epoch(t, false)?, req.now, TOLERANCE_SECS)
}

/// Parses a Calendly delivery. Events other than `invitee.created` are claimed and ignored.
pub fn parse(body: &[u8]) -> Result<Vec<Item>, WebhookError> {
    let v = json::object(body)?;
    let p = v.get("payload").unwrap_or(&Value::Null);
    let key = json::at(p, "/uri").ok_or_else(|| json::missing("payload.uri"))?;
    let event = json::at(&v, "/event").unwrap_or_default();
    if event != "invitee.created" {
        return Ok(vec![Item::Ignored {
            delivery_key: format!("{event}:{key}"),
            reason: "not an invitee.created event",
        }]);
    }

    let mut e = Extracted::form(key);
    e.activity = ActivityKind::DemoBooked;
    e.hand_raiser = true;
    e.form_id = json::at(p, "/scheduled_event/event_type");
    e.form_name = json::at(p, "/scheduled_event/name");
    e.occurred_at = json::at(p, "/created_at").and_then(|t| json::time(&t));
    e.time_zone = json::at(p, "/timezone");
    e.fields = invitee_fields(p);
    Ok(vec![Item::Submission(Box::new(e))])
}

fn invitee_fields(p: &Value) -> Vec<RawField> {
    let mut fields = Vec::new();
    let mut push = |key: &str, kind: FieldKind, value: Option<String>| {
        if let Some(value) = value {
            fields.push(RawField::new(key, value).kind(kind));
        }
    };
    push("email", FieldKind::Email, json::at(p, "/email"));
    push("name", FieldKind::Other, json::at(p, "/name"));
    push("first_name", FieldKind::Other, json::at(p, "/first_name"));
    push("last_name", FieldKind::Other, json::at(p, "/last_name"));
    push(
        "text_reminder_number",
        FieldKind::Phone,
        json::at(p, "/text_reminder_number"),
    );
    push(
        "start_time",
        FieldKind::Other,
        json::at(p, "/scheduled_event/start_time"),
    );
    for (k, val) in p
        .get("tracking")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        push(k, FieldKind::Hidden, json::text(val));
    }

    let qa = p.get("questions_and_answers").and_then(Value::as_array);
    for q in qa.into_iter().flatten() {
        if let (Some(question), Some(answer)) = (json::at(q, "/question"), json::at(q, "/answer")) {
            let position = json::at(q, "/position").unwrap_or_default();
            fields.push(RawField::new(format!("question_{position}"), answer).label(question));
        }
    }
    fields
}
