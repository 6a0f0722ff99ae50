//! Serves the API on 127.0.0.1 over an embedded store, for curl and schemathesis.
//!
//! ```text
//! cargo run -p api --example serve_local -- [PORT] [DB_FILE]
//! ```
//!
//! PORT defaults to 3000; without DB_FILE the store is in memory and holds a few demo leads and
//! reps. Callers identify with the local `X-Dev-User` header (see `api::auth`), which is why
//! this binds to the loopback address only. The local runner's `serve` command will replace
//! this example; it exists so the API can be exercised before that lands.

use api::{auth::AuthMode, Deps};
use embedded::EmbeddedStore;
use http_body_util::{BodyExt, Full};
use hyper::{body::Bytes, server::conn::http1, service::service_fn};
use hyper_util::rt::TokioIo;
use lifecycle::{
    funnel, journey::StageOutcome, Actor, Attribution, CauseId, Email, JourneyState, Lead, LeadId,
    RepId, Stage, StageEvent,
};
use ports::{Commit, Document, DocumentWrite, Expect, JourneyStore, LeadWrite, SystemClock};
use std::{net::SocketAddr, sync::Arc};
use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let mut args = std::env::args().skip(1);
    let port: u16 = args.next().map_or(Ok(3000), |p| p.parse())?;
    let store = match args.next() {
        Some(path) => Arc::new(EmbeddedStore::open(path)?),
        None => {
            let store = Arc::new(EmbeddedStore::in_memory()?);
            seed(&store).await?;
            store
        }
    };
    let deps = Deps::on(store, Arc::new(SystemClock), AuthMode::DevHeader);

    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let listener = TcpListener::bind(addr).await?;
    println!("api listening on http://{addr}");
    loop {
        let (stream, _) = listener.accept().await?;
        let deps = deps.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let deps = deps.clone();
                async move { serve(req, &deps).await }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// One request: hyper → `lambda_http::Request` → `api::handle` → hyper.
async fn serve(
    req: hyper::Request<hyper::body::Incoming>,
    deps: &Deps,
) -> Result<hyper::Response<Full<Bytes>>, hyper::Error> {
    let (parts, body) = req.into_parts();
    let bytes = body.collect().await?.to_bytes();
    let req = lambda_http::Request::from_parts(parts, lambda_http::Body::from(bytes.to_vec()));

    let (parts, body) = api::handle(req, deps).await.into_parts();
    let bytes = match body {
        lambda_http::Body::Text(t) => t.into_bytes(),
        lambda_http::Body::Binary(b) => b,
        lambda_http::Body::Empty => Vec::new(),
    };
    Ok(hyper::Response::from_parts(
        parts,
        Full::new(Bytes::from(bytes)),
    ))
}

/// Two reps and a few MQLs, so the endpoints have something to show.
async fn seed(store: &EmbeddedStore) -> anyhow::Result<()> {
    for (rep, team) in [("rep-ana", "emea"), ("rep-bo", "amer")] {
        let doc = Document {
            collection: api::reps::COLLECTION.into(),
            key: rep.into(),
            version: 1,
            index: None,
            body: serde_json::json!({ "team": team, "active": true }),
            expires_at: None,
        };
        let commit = Commit {
            documents: vec![DocumentWrite::Put {
                doc,
                expect: Expect::Absent,
            }],
            ..Commit::default()
        };
        store.commit(commit).await?;
    }
    let sources = ["google", "linkedin", "webinar"];
    for i in 0..6u32 {
        let owner = if i % 2 == 0 { "rep-ana" } else { "rep-bo" };
        store
            .commit(demo_lead(i, owner, sources[i as usize % 3])?)
            .await?;
    }
    Ok(())
}

fn demo_lead(i: u32, owner: &str, source: &str) -> anyhow::Result<Commit> {
    let created = chrono::Utc::now() - chrono::Duration::days(i64::from(10 - i));
    let mut lead = Lead::new(LeadId::new(format!("demo-{i}")), created);
    lead.email = Some(Email::parse(&format!("demo{i}@example.com"))?);
    lead.owner = Some(RepId::new(owner));
    lead.attribution = Attribution {
        source: Some(source.into()),
        ..Attribution::default()
    };
    let mut state = JourneyState::default();
    let mut commit = Commit::default();
    for (to, hours) in [(Stage::New, 0), (Stage::Mql, 2)] {
        let at = created + chrono::Duration::hours(hours);
        let event = StageEvent {
            to,
            cause: CauseId::new(format!("demo:{i}:{to}")),
            actor: Actor::System {
                component: "demo".into(),
            },
            reason: None,
            effective_at: at,
            recorded_at: at,
            dims: lead.dimensions(),
        };
        if let StageOutcome::Applied(t) = state.apply(&lead.id, &event)? {
            commit.counters.extend(funnel::counter_deltas(&t));
            commit.transitions.push(t);
        }
    }
    lead.journey = state;
    lead.version = 1;
    commit.lead = Some(LeadWrite {
        lead,
        expect: Expect::Absent,
        new_identities: Vec::new(),
    });
    Ok(commit)
}
