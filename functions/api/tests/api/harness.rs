//! A fresh API on an in-memory embedded store, driven through `api::handle` with the local
//! `X-Dev-User` identities, plus seeding helpers that write leads the way the pipeline would.

use api::{auth::AuthMode, Deps};
use embedded::EmbeddedStore;
use lambda_http::{Body, Request};
use lifecycle::{
    funnel, journey::StageOutcome, Actor, Attribution, CauseId, Email, JourneyState, Lead, LeadId,
    Profile, RepId, Stage, StageEvent, Timestamp,
};
use ports::{
    Commit, CommitOutcome, Document, DocumentWrite, Expect, JourneyStore, LeadWrite, ManualClock,
    QueueConsumer, Topic,
};
use serde_json::{json, Value};
use std::sync::Arc;

/// 2030-01-10T12:00:00Z, the harness's "now".
pub(crate) fn now() -> Timestamp {
    "2030-01-10T12:00:00Z".parse().unwrap()
}

pub(crate) struct Api {
    pub(crate) store: Arc<EmbeddedStore>,
    pub(crate) deps: Deps,
    /// The clock the API and the store read; tests that need another "now" set it.
    pub(crate) clock: Arc<ManualClock>,
}

/// A caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Who {
    Admin,
    Marketing,
    /// Manager of team emea (rep-ana's team).
    ManagerEmea,
    /// Manager of team amer (not rep-ana's team).
    ManagerAmer,
    /// rep-ana (owns the seeded lead).
    RepAna,
    /// rep-bo (owns nothing of interest).
    RepBo,
    /// No identity at all.
    Nobody,
}

impl Who {
    pub(crate) const ALL: [Who; 7] = [
        Who::Admin,
        Who::Marketing,
        Who::ManagerEmea,
        Who::ManagerAmer,
        Who::RepAna,
        Who::RepBo,
        Who::Nobody,
    ];

    fn header(self) -> Option<Value> {
        Some(match self {
            Who::Admin => json!({ "sub": "u-admin", "roles": "admin" }),
            Who::Marketing => json!({ "sub": "u-mkt", "roles": "marketing" }),
            Who::ManagerEmea => json!({ "sub": "u-mgr-emea", "roles": "manager", "team": "emea" }),
            Who::ManagerAmer => json!({ "sub": "u-mgr-amer", "roles": "manager", "team": "amer" }),
            Who::RepAna => {
                json!({ "sub": "u-ana", "roles": ["rep"], "rep_id": "rep-ana", "team": "emea" })
            }
            Who::RepBo => {
                json!({ "sub": "u-bo", "roles": "[rep]", "rep_id": "rep-bo", "team": "amer" })
            }
            Who::Nobody => return None,
        })
    }
}

/// A response, decoded.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: lambda_http::http::HeaderMap,
    pub(crate) text: String,
}

impl Reply {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }

    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A request under construction.
pub(crate) struct Call {
    builder: lambda_http::http::request::Builder,
    body: Option<Value>,
    raw: Option<String>,
}

impl Call {
    pub(crate) fn header(mut self, name: &str, value: &str) -> Self {
        self.builder = self.builder.header(name, value);
        self
    }

    pub(crate) fn if_match(self, version: u64) -> Self {
        self.header("if-match", &format!("\"{version}\""))
    }

    pub(crate) fn key(self, key: &str) -> Self {
        self.header("idempotency-key", key)
    }

    pub(crate) fn body(mut self, body: Value) -> Self {
        self.body = Some(body);
        self
    }

    /// A body sent as it is (a CSV file, say); set its content type with `header`.
    pub(crate) fn raw(mut self, text: &str) -> Self {
        self.raw = Some(text.to_owned());
        self
    }

    pub(crate) async fn send(self, api: &Api) -> Reply {
        let body = match (self.raw, self.body) {
            (Some(text), _) => Body::Text(text),
            (None, Some(v)) => Body::Text(v.to_string()),
            (None, None) => Body::Empty,
        };
        let req: Request = self.builder.body(body).unwrap();
        let resp = api::handle(req, &api.deps).await;
        let text = match resp.body() {
            Body::Text(t) => t.clone(),
            Body::Binary(b) => String::from_utf8_lossy(b).into_owned(),
            Body::Empty => String::new(),
        };
        Reply {
            status: resp.status().as_u16(),
            headers: resp.headers().clone(),
            text,
        }
    }
}

impl Api {
    pub(crate) async fn new() -> Api {
        Self::on(EmbeddedStore::in_memory().unwrap()).await
    }

    /// An API on a store in the file at `path`, for tests that read the file themselves.
    pub(crate) async fn on_file(path: &std::path::Path) -> Api {
        Self::on(EmbeddedStore::open(path).unwrap()).await
    }

    async fn on(store: EmbeddedStore) -> Api {
        let clock = Arc::new(ManualClock::new(now()));
        let store = Arc::new(store.with_clock(clock.clone()));
        let deps = Deps::on(store.clone(), clock.clone(), AuthMode::DevHeader);
        let api = Api { store, deps, clock };
        api.seed_rep("rep-ana", "emea").await;
        api.seed_rep("rep-bo", "amer").await;
        api
    }

    pub(crate) fn call(&self, method: &str, path: &str, who: Who) -> Call {
        let mut builder = lambda_http::http::Request::builder()
            .method(method)
            .uri(format!("https://api.test{path}"));
        if let Some(h) = who.header() {
            builder = builder.header("x-dev-user", h.to_string());
        }
        Call {
            builder,
            body: None,
            raw: None,
        }
    }

    pub(crate) async fn seed_rep(&self, id: &str, team: &str) {
        let doc = Document {
            collection: "rep".into(),
            key: id.into(),
            version: 1,
            index: None,
            body: json!({ "team": team, "active": true, "pools": ["inbound"] }),
            expires_at: None,
        };
        self.commit(Commit {
            documents: vec![DocumentWrite::Put {
                doc,
                expect: Expect::Absent,
            }],
            ..Commit::default()
        })
        .await;
    }

    /// Stores `body` as the document `collection/key` (version 1), whatever was there: a
    /// rep's load, a queue entry, as the functions that own them would have left it.
    pub(crate) async fn put_document(&self, collection: &str, key: &str, body: Value) {
        let doc = Document {
            collection: collection.into(),
            key: key.into(),
            version: 1,
            index: None,
            body,
            expires_at: None,
        };
        self.commit(Commit {
            documents: vec![DocumentWrite::Put {
                doc,
                expect: Expect::Any,
            }],
            ..Commit::default()
        })
        .await;
    }

    /// Commits seed data, then takes the journey events it published off the queue, so that a
    /// test sees only the events of the request it makes.
    pub(crate) async fn commit(&self, commit: Commit) {
        let outcome = self.store.commit(commit).await.unwrap();
        assert_eq!(outcome, CommitOutcome::Committed);
        let seeded = self.store.receive(Topic::JourneyEvents, 100, 30).await;
        for delivery in seeded.unwrap() {
            self.store
                .ack(Topic::JourneyEvents, &delivery.receipt)
                .await
                .unwrap();
        }
    }

    /// A lead that entered at `created` and became an MQL an hour later (by a rule), owned by
    /// `owner`, from `source`.
    pub(crate) async fn seed_lead(
        &self,
        id: &str,
        owner: Option<&str>,
        source: &str,
        created: Timestamp,
    ) -> Lead {
        let mut lead = Lead::new(LeadId::new(id), created);
        lead.email = Some(Email::parse(&format!("person.{id}@example.com")).unwrap());
        lead.profile = Profile {
            name: Some(format!("Person {id}")),
            company: Some("Quillfield".into()),
            title: Some("CTO".into()),
            ..Profile::default()
        };
        lead.attribution = Attribution {
            source: Some(source.into()),
            ..Attribution::default()
        };
        lead.owner = owner.map(RepId::new);
        lead.grade = Some("B".into());

        let mut state = JourneyState::default();
        let mut commit = Commit::default();
        for (stage, at, cause) in [
            (Stage::New, created, format!("webhook:{id}")),
            (
                Stage::Mql,
                created + chrono::Duration::hours(1),
                format!("score:{id}"),
            ),
        ] {
            let event = StageEvent {
                to: stage,
                cause: CauseId::new(cause),
                actor: Actor::Rule {
                    id: "mql".into(),
                    version: 1,
                },
                reason: None,
                effective_at: at,
                recorded_at: at,
                dims: lead.dimensions(),
            };
            let StageOutcome::Applied(t) = state.apply(&lead.id, &event).unwrap() else {
                panic!("seed transition applies")
            };
            commit.counters.extend(funnel::counter_deltas(&t));
            commit.transitions.push(t);
        }
        lead.journey = state;
        lead.version = 1;
        commit.lead = Some(LeadWrite {
            lead: lead.clone(),
            expect: Expect::Absent,
            new_identities: vec![ports::commit::Identity::Email(lead.email.clone().unwrap())],
        });
        self.commit(commit).await;
        lead
    }

    /// The standard lead: `L1`, owned by rep-ana (team emea), an MQL, version 1.
    pub(crate) async fn seed_l1(&self) -> Lead {
        self.seed_lead(
            "L1",
            Some("rep-ana"),
            "google",
            "2030-01-02T09:00:00Z".parse().unwrap(),
        )
        .await
    }
}
