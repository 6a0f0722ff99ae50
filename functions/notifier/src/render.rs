//! Rendering a [`Brief`] into the body a target takes.
//!
//! * **Slack-compatible** ([`slack`]): an incoming-webhook body with a plain `text` (what
//!   notifications and clients without blocks show) and `blocks`: a header, the person, what
//!   they did, why they are an MQL, and the SLA due time. Times use Slack's `<!date^…>` token,
//!   shown in the reader's own time zone, with the UTC time as the fallback text. Text from the
//!   lead (name, company, title) is escaped, so a lead cannot write a mention or a link into a
//!   rep's channel.
//! * **Generic JSON** ([`json`]): the same facts as named fields, times as RFC 3339.

use crate::brief::{Brief, Headline, Person};
use lifecycle::{notify::NotifyTarget, sla::ClockKind, Timestamp};
use serde_json::{json, Value};

/// The body for `target`.
pub fn body(target: &NotifyTarget, brief: &Brief) -> Value {
    match target {
        NotifyTarget::Slack { .. } => slack(brief),
        NotifyTarget::Json { .. } => json(brief),
    }
}

/// Escapes the three characters Slack's mrkdwn gives meaning to.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn utc(at: Timestamp) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// A Slack date token: the reader's local time, with the UTC time as fallback.
fn slack_time(at: Timestamp) -> String {
    format!(
        "<!date^{}^{{date_short_pretty}} {{time}}|{}>",
        at.timestamp(),
        utc(at)
    )
}

fn display_name(p: &Person) -> String {
    p.name
        .clone()
        .unwrap_or_else(|| "A lead with no name given".to_owned())
}

fn headline(brief: &Brief) -> String {
    let who = escape(&display_name(&brief.person));
    let at = brief
        .person
        .company
        .as_deref()
        .map(|c| format!(" ({})", escape(c)))
        .unwrap_or_default();
    match brief.headline {
        Headline::Assigned => format!("New lead for you: {who}{at}"),
        Headline::Overflowed => format!(
            "Nobody could take {who}{at}: waiting in {}",
            escape(brief.queue.as_deref().unwrap_or("the overflow queue"))
        ),
        Headline::Reminder if follow_up(brief) => {
            format!("Reminder: {who}{at} is waiting to be qualified or disqualified")
        }
        Headline::Reminder => format!("Reminder: {who}{at} is waiting for you"),
        Headline::Breached if follow_up(brief) => {
            format!("SLA breached: {who}{at} was not qualified or disqualified in time")
        }
        Headline::Breached => format!("SLA breached: {who}{at} was not accepted in time"),
    }
}

/// Whether the notice is about an SAL follow-up clock: the rep accepted the lead and owes a
/// verdict, not an accept.
fn follow_up(brief: &Brief) -> bool {
    brief
        .due
        .as_ref()
        .is_some_and(|d| d.clock == Some(ClockKind::SalFollowUp))
}

/// Why, in one sentence.
fn why_line(brief: &Brief) -> String {
    let Some(w) = &brief.why else {
        return "Why MQL: no scoring decision is stored for this lead.".to_owned();
    };
    let rules = if w.grade_rules.is_empty() {
        String::new()
    } else {
        format!(" Grade rules: {}.", w.grade_rules.join(", "))
    };
    if w.hand_raiser && !w.thresholds_met {
        format!(
            "Why MQL: hand raiser with grade {} (at least {} needed); score {:.0}.{rules}",
            w.grade, w.min_grade, w.score
        )
    } else {
        format!(
            "Why MQL: grade {} (at least {}) and score {:.0} (at least {:.0}).{rules}",
            w.grade, w.min_grade, w.score, w.min_score
        )
    }
}

fn who_lines(p: &Person) -> Vec<String> {
    let mut lines = Vec::new();
    let mut push = |label: &str, v: &Option<String>| {
        if let Some(v) = v {
            lines.push(format!("*{label}:* {}", escape(v)));
        }
    };
    push("Title", &p.title);
    push("Company", &p.company);
    push("E-mail", &p.email);
    push("Phone", &p.phone);
    push("Country", &p.country);
    push("Industry", &p.industry);
    push("Company size", &p.company_size);
    push("Source", &p.source);
    push("Campaign", &p.campaign);
    lines
}

fn section(text: String) -> Value {
    json!({ "type": "section", "text": { "type": "mrkdwn", "text": text } })
}

/// The Slack-compatible body.
pub fn slack(brief: &Brief) -> Value {
    let head = headline(brief);
    let due = brief.due.as_ref().map(|d| {
        let policy = d
            .policy
            .as_deref()
            .map(|p| format!(" ({})", escape(p)))
            .unwrap_or_default();
        format!("*SLA due:* {}{policy}", slack_time(d.at))
    });
    let mut text = format!("{head}. {}", why_line(brief));
    if let Some(d) = &brief.due {
        text.push_str(&format!(" SLA due {}.", utc(d.at)));
    }

    let mut blocks = vec![
        json!({ "type": "header", "text": { "type": "plain_text", "text": truncate(&head, 150) } }),
    ];
    let who = who_lines(&brief.person);
    if !who.is_empty() {
        blocks.push(section(who.join("\n")));
    }
    if !brief.did.is_empty() {
        let did: Vec<String> = brief
            .did
            .iter()
            .map(|d| {
                let flag = if d.hand_raiser {
                    " (asked for sales)"
                } else {
                    ""
                };
                format!("• {} {}{flag}", d.kind.replace('_', " "), slack_time(d.at))
            })
            .collect();
        blocks.push(section(format!("*Recent activity:*\n{}", did.join("\n"))));
    }
    blocks.push(section(why_line(brief)));
    if let Some(due) = due {
        blocks.push(section(due));
    }
    blocks.push(json!({ "type": "context", "elements": [
        { "type": "mrkdwn", "text": format!("lead `{}` · stage {}", brief.lead, brief.stage) }
    ]}));
    json!({ "text": text, "blocks": blocks })
}

/// Slack refuses a header longer than 150 characters.
fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut t: String = s.chars().take(max - 1).collect();
    t.push('…');
    t
}

/// The generic JSON body.
pub fn json(brief: &Brief) -> Value {
    let kind = match brief.headline {
        Headline::Assigned => "lead_assigned",
        Headline::Overflowed => "lead_overflowed",
        Headline::Reminder => "sla_reminder",
        Headline::Breached => "sla_breached",
    };
    let p = &brief.person;
    json!({
        "kind": kind,
        "lead": {
            "id": brief.lead,
            "stage": brief.stage,
            "name": p.name, "title": p.title, "company": p.company,
            "email": p.email, "phone": p.phone, "country": p.country,
            "industry": p.industry, "company_size": p.company_size,
            "source": p.source, "campaign": p.campaign,
        },
        "rep": brief.rep,
        "pool": brief.pool,
        "queue": brief.queue,
        "recent_activities": brief.did.iter().map(|d| json!({
            "kind": d.kind, "at": d.at, "hand_raiser": d.hand_raiser,
        })).collect::<Vec<_>>(),
        "why_mql": brief.why.as_ref().map(|w| json!({
            "grade": w.grade, "min_grade": w.min_grade,
            "score": w.score, "min_score": w.min_score,
            "hand_raiser": w.hand_raiser, "thresholds_met": w.thresholds_met,
            "qualified_at": w.at, "grade_rules": w.grade_rules,
        })),
        "sla": brief.due.as_ref().map(|d| json!({
            "due_at": d.at, "policy": d.policy, "clock": d.clock,
        })),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::brief::{Brief, Due, Headline, Person};
    use lifecycle::LeadId;

    fn brief(name: &str) -> Brief {
        Brief {
            headline: Headline::Assigned,
            lead: LeadId::new("L9"),
            stage: "mql".into(),
            rep: None,
            pool: None,
            queue: None,
            person: Person {
                name: Some(name.into()),
                ..Person::default()
            },
            did: vec![],
            why: None,
            due: Some(Due {
                at: "2025-06-16T08:15:00Z".parse().unwrap(),
                policy: None,
                clock: None,
            }),
        }
    }

    #[test]
    fn lead_text_cannot_write_mentions_or_links_into_the_channel() {
        let body = slack(&brief("<!channel> <https://evil.example|click> & co"));
        let text = body.to_string();
        assert!(!text.contains("<!channel>"), "{text}");
        assert!(!text.contains("<https://evil"), "{text}");
        assert!(text.contains("&lt;!channel&gt; &lt;https://evil.example|click&gt; &amp; co"));
    }

    #[test]
    fn the_due_time_is_a_slack_date_token_with_a_utc_fallback() {
        let body = slack(&brief("Grace Hopper"));
        let blocks = body["blocks"].to_string();
        // 2025-06-16T08:15:00Z is 1750061700 seconds after the epoch.
        assert!(
            blocks.contains("<!date^1750061700^{date_short_pretty} {time}|2025-06-16 08:15 UTC>"),
            "{blocks}"
        );
        assert!(body["text"]
            .as_str()
            .unwrap()
            .contains("no scoring decision is stored"));
    }

    #[test]
    fn a_long_headline_is_cut_to_what_slack_accepts() {
        let body = slack(&brief(&"x".repeat(400)));
        let header = body["blocks"][0]["text"]["text"].as_str().unwrap();
        assert_eq!(header.chars().count(), 150);
        assert!(header.ends_with('…'));
    }

    #[test]
    fn an_sal_follow_up_breach_says_the_verdict_is_late_not_the_accept() {
        let mut b = brief("Grace Hopper");
        b.headline = Headline::Breached;
        b.due.as_mut().unwrap().clock = Some(ClockKind::SalFollowUp);
        let head = slack(&b)["blocks"][0]["text"]["text"].clone();
        assert_eq!(
            head,
            "SLA breached: Grace Hopper was not qualified or disqualified in time"
        );
        assert_eq!(json(&b)["sla"]["clock"], "sal_follow_up");

        b.headline = Headline::Reminder;
        let head = slack(&b)["blocks"][0]["text"]["text"].clone();
        assert_eq!(
            head,
            "Reminder: Grace Hopper is waiting to be qualified or disqualified"
        );

        b.due.as_mut().unwrap().clock = Some(ClockKind::RepResponse);
        b.headline = Headline::Breached;
        let head = slack(&b)["blocks"][0]["text"]["text"].clone();
        assert_eq!(head, "SLA breached: Grace Hopper was not accepted in time");
    }
}
