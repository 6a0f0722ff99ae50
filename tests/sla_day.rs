//! A simulated day of traffic on the local stack, for the SLA timers: the `sla_day` end-to-end
//! test and the `bench_lateness` example run it.
//!
//! Everything goes through [`Stack`] as `journey serve` wires it, on a [`ManualClock`]:
//!
//! * **Setup** through the API as an admin: the routing configuration (pools `emea` and
//!   `amer`, 12 reps each), the reps, a 09:00-17:00 weekday calendar per pool (Berlin and New
//!   York), and the SLA policies (a hand raiser accepted within 15 business minutes, any other
//!   MQL within 4 business hours, routing within 5).
//! * **Traffic**: signed form deliveries on `POST /webhooks/generic/sim` at seeded random
//!   seconds over one day. Four in ten are demo requests (hand raisers); the rest come from a
//!   referral, which the shipped scoring rules make an MQL at once for a lead of grade A: every
//!   lead is a chief marketing officer at a business address in Germany or the US (fit points
//!   30, 10, 5 and 5: 50), and a referral's form is worth 55 (5 and 50), so the MQL score is
//!   105 against a threshold of 100. Scoring, routing and the notifier run from the queues
//!   after each request ([`Stack::drain`]), as `serve`'s pump does.
//! * **Assignment waits** twice a day, so that routing-latency clocks breach too: every `emea`
//!   rep is out of office for an hour (a team offsite, in business hours), and every `amer` rep
//!   has a daily cap that the day's traffic exceeds in the evening. Leads nobody can take wait
//!   in the overflow queue with their routing-latency clock running.
//! * **Reps** are told of each assignment by the notifier (a recording [`Notifier`] stands in for
//!   their webhook). Two in three accept through the API (`GET /leads/{id}` for the ETag, then
//!   `POST /leads/{id}/accept` with it) at a random moment before their clock is due; the third
//!   never answers, so their clock breaches and the ladder reassigns, then overflows.
//! * **The schedule**: every simulated minute, [`Stack::run_schedules`] with that minute as
//!   "now", then a drain, as `serve`'s ticker and pump do.
//!
//! What happened is read from what people were told (the notices the notifier posted) and
//! from the clocks stored at the end, never from the sweep's own report. A breach's *lateness*
//! is the time its manager was told minus the clock's due time.

use async_trait::async_trait;
use chrono::{DateTime, Duration, DurationRound, SecondsFormat};
use embedded::EmbeddedStore;
use hyper::Request;
use journey_local::stack::{Stack, StackConfig};
use lifecycle::{sla::SlaClock, Timestamp};
use ports::{DocumentStore, ManualClock, Notifier, NotifyError, MAX_PAGE};
use rand::{rngs::StdRng, Rng, SeedableRng};
use serde_json::{json, Value};
use std::{
    cmp::Reverse,
    collections::{BTreeMap, BinaryHeap, HashMap},
    sync::{Arc, Mutex},
    time::Instant,
};

/// Reps per pool; every third never answers.
pub const REPS_PER_POOL: usize = 12;
/// How long after the day the simulation keeps going, at most: long enough for a Friday-night
/// lead's second clock, after a weekend.
const AFTERMATH_DAYS: i64 = 5;
/// The `emea` team's offsite (every rep out of office), UTC: 12:00-13:00 in Berlin.
const OFFSITE: (u32, u32) = (10, 11);
const ADMIN: &str = r#"{"sub":"sim-admin","roles":"admin"}"#;

/// What to simulate.
#[derive(Debug, Clone, Copy)]
pub struct Traffic {
    /// Form deliveries over the day (each one a new lead and an MQL).
    pub leads: usize,
    /// Seed of the arrival times, kinds, pools and reply delays.
    pub seed: u64,
    /// Midnight UTC of the simulated day.
    pub day: Timestamp,
    /// Run the schedules twice at once every minute, as overlapping invocations would.
    pub overlapping: bool,
}

/// A clock as the notices name it: the lead, and the rep it ran for (`None`: routing latency).
pub type ClockRef = (String, Option<String>);

/// A breach and when the manager was told.
#[derive(Debug, Clone, PartialEq)]
pub struct Detection {
    /// The due time the notice states.
    pub due_at: Timestamp,
    /// When the notice was posted.
    pub told_at: Timestamp,
}

impl Detection {
    /// How long after the due time the manager was told.
    pub fn lateness(&self) -> Duration {
        self.told_at - self.due_at
    }
}

/// What the simulated day did, as seen from the notices posted and the clocks stored.
#[derive(Debug, Default)]
pub struct Day {
    /// Every clock stored at the end, by id.
    pub clocks: BTreeMap<String, SlaClock>,
    /// The breach notices, by clock.
    pub breaches: BTreeMap<ClockRef, Vec<Detection>>,
    /// The reminders, by clock: how many each got.
    pub reminders: BTreeMap<ClockRef, usize>,
    /// Notices posted, by kind.
    pub posted: BTreeMap<String, usize>,
    /// Webhook answers, by status.
    pub webhooks: BTreeMap<u16, usize>,
    /// Accepts the API answered 200.
    pub accepted: usize,
    /// Accepts refused (the lead had been taken away meanwhile).
    pub refused: usize,
    /// Schedule ticks run (one per simulated minute).
    pub ticks: usize,
    /// The longest tick (schedules and drain), wall time.
    pub slowest_tick: std::time::Duration,
    /// The whole run, wall time.
    pub wall: std::time::Duration,
    /// The end of the simulation: the last tick.
    pub ended_at: Option<Timestamp>,
    /// `GET /reports/funnel` for the simulated week by team and by rep, at the end.
    pub reports: BTreeMap<&'static str, Value>,
}

impl Day {
    /// The clock a notice names, if it is stored: the lead's clock that ran for `rep` (the
    /// routing-latency clock for none).
    pub fn clock_of(&self, (lead, rep): &ClockRef) -> Option<&SlaClock> {
        self.clocks.values().find(|c| {
            c.lead.as_str() == lead && c.owner.as_ref().map(|r| r.as_str()) == rep.as_deref()
        })
    }

    /// Where a clock stands, as its notices would name it.
    pub fn ref_of(clock: &SlaClock) -> ClockRef {
        (
            clock.lead.as_str().to_owned(),
            clock.owner.as_ref().map(|r| r.as_str().to_owned()),
        )
    }

    /// The lateness of every first breach notice, sorted.
    pub fn lateness(&self) -> Vec<Duration> {
        let mut all: Vec<Duration> = self
            .breaches
            .values()
            .filter_map(|d| d.first().map(Detection::lateness))
            .collect();
        all.sort();
        all
    }
}

/// Something due in the simulation besides the ticks.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    /// A form delivery arrives.
    Arrive { lead: usize },
    /// A rep accepts a lead.
    Accept { lead: String, rep: String },
}

/// One notice as the notifier posted it.
#[derive(Debug, Clone)]
struct Post {
    at: Timestamp,
    body: Value,
}

/// The reps' and managers' webhook: records every post, at the stack's time.
#[derive(Clone)]
struct Inbox {
    clock: Arc<ManualClock>,
    posts: Arc<Mutex<Vec<Post>>>,
}

#[async_trait]
impl Notifier for Inbox {
    async fn post(&self, _url: &str, body: &Value) -> Result<(), NotifyError> {
        let post = Post {
            at: ports::Clock::now(self.clock.as_ref()),
            body: body.clone(),
        };
        self.posts.lock().expect("inbox lock").push(post);
        Ok(())
    }
}

/// The stack, the simulated clock and what is planned.
struct Sim {
    stack: Stack,
    clock: Arc<ManualClock>,
    inbox: Inbox,
    read: usize,
    overlapping: bool,
    rng: StdRng,
    events: BinaryHeap<Reverse<(Timestamp, Event)>>,
    day: Day,
}

/// Runs the day and its aftermath, until nothing is left to happen.
pub async fn run(traffic: Traffic) -> Day {
    let started = Instant::now();
    let mut sim = Sim::new(traffic).await;
    sim.configure(traffic).await;
    for (lead, at) in arrivals(&mut sim.rng, traffic).into_iter().enumerate() {
        sim.events.push(Reverse((at, Event::Arrive { lead })));
    }

    let end = traffic.day + Duration::days(1 + AFTERMATH_DAYS);
    let mut minute = traffic.day;
    while minute <= end {
        sim.events_before(minute).await;
        sim.tick(minute).await;
        if minute > traffic.day + Duration::days(1) && sim.quiet().await {
            break;
        }
        minute += Duration::minutes(1);
    }

    sim.day.clocks = sim.stored_clocks().await;
    sim.day.ended_at = Some(minute);
    sim.reports(traffic).await;
    sim.day.wall = started.elapsed();
    sim.day
}

/// The simulated day's midnight, to the minute (the schedule runs on whole minutes).
pub fn midnight(rfc3339: &str) -> Timestamp {
    let t = DateTime::parse_from_rfc3339(rfc3339)
        .expect("an RFC 3339 instant")
        .to_utc();
    t.duration_trunc(Duration::minutes(1)).expect("truncates")
}

/// Seeded arrival instants over the day, to the second, in order.
fn arrivals(rng: &mut StdRng, traffic: Traffic) -> Vec<Timestamp> {
    let mut at: Vec<Timestamp> = (0..traffic.leads)
        .map(|_| traffic.day + Duration::seconds(rng.random_range(0..86_400)))
        .collect();
    at.sort();
    at
}

/// A rep's id.
pub fn rep_name(pool: &str, i: usize) -> String {
    format!("{pool}-rep-{i:02}")
}

/// Every third rep never answers.
pub fn answers(rep: &str) -> bool {
    let number: usize = rep
        .rsplit('-')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    number % 3 != 0
}

/// The daily cap of each `amer` rep: together, two fifths of the day's traffic, about half
/// of what the pool gets with reassignments, so the pool fills up in the evening.
pub fn amer_cap(leads: usize) -> usize {
    (leads * 2 / 5 / REPS_PER_POOL).max(1)
}

fn rfc3339(t: Timestamp) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

impl Sim {
    async fn new(traffic: Traffic) -> Self {
        let clock = Arc::new(ManualClock::new(traffic.day));
        let inbox = Inbox {
            clock: clock.clone(),
            posts: Arc::default(),
        };
        let mut config =
            StackConfig::local(&HashMap::new(), "test-secret").expect("the local configuration");
        config.notifier = Arc::new(inbox.clone());
        let store = EmbeddedStore::in_memory().expect("in-memory store opens");
        Sim {
            stack: Stack::new(store, clock.clone(), config),
            clock,
            inbox,
            read: 0,
            overlapping: traffic.overlapping,
            rng: StdRng::seed_from_u64(traffic.seed),
            events: BinaryHeap::new(),
            day: Day::default(),
        }
    }

    /// One request to the stack: status, ETag and JSON body (`Null` when it is not JSON).
    async fn call(
        &self,
        method: &str,
        path: &str,
        user: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<Value>,
    ) -> (u16, Option<String>, Value) {
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header("host", "127.0.0.1");
        if let Some(user) = user {
            req = req.header("x-dev-user", user);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        if !bytes.is_empty() {
            req = req.header("content-type", "application/json");
        }
        let resp = self.stack.handle(req.body(bytes).expect("a request")).await;
        let etag = resp
            .headers()
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let json = serde_json::from_slice(resp.body()).unwrap_or(Value::Null);
        (resp.status().as_u16(), etag, json)
    }

    /// Stores one configuration document through the API, as an admin creating it.
    async fn put(&self, path: &str, body: Value) {
        let (status, _, answer) = self
            .call(
                "PUT",
                path,
                Some(ADMIN),
                &[("if-match", "\"0\"")],
                Some(body),
            )
            .await;
        assert!(status < 300, "PUT {path}: {status} {answer}");
    }

    async fn configure(&self, traffic: Traffic) {
        let target =
            |pool: &str| json!({"kind": "json", "url": format!("https://hooks.example/{pool}")});
        let members = |pool: &str, cap: Option<usize>| -> Vec<Value> {
            (0..REPS_PER_POOL)
                .map(|i| match cap {
                    Some(cap) => json!({"rep": rep_name(pool, i), "max_per_day": cap}),
                    None => json!({"rep": rep_name(pool, i)}),
                })
                .collect()
        };
        let routing = json!({
            "pools": [
                {"id": "emea", "members": members("emea", None), "overflow_queue": "emea_overflow",
                 "manager": "emea-boss", "notify": target("emea")},
                {"id": "amer", "members": members("amer", Some(amer_cap(traffic.leads))),
                 "overflow_queue": "amer_overflow", "manager": "amer-boss", "notify": target("amer")},
            ],
            "rules": [{"id": "europe", "segment": {"countries": ["DE"]}, "pool": "emea"}],
            "default_pool": "amer",
        });
        self.put("/config/routing", routing).await;
        let offsite = json!([{
            "from": rfc3339(traffic.day + Duration::hours(OFFSITE.0.into())),
            "to": rfc3339(traffic.day + Duration::hours(OFFSITE.1.into())),
        }]);
        for pool in ["emea", "amer"] {
            for i in 0..REPS_PER_POOL {
                let away = if pool == "emea" {
                    offsite.clone()
                } else {
                    json!([])
                };
                let rep = json!({"name": rep_name(pool, i), "team": pool, "active": true,
                    "pools": [pool], "availability": {"out_of_office": away}});
                self.put(&format!("/reps/{}", rep_name(pool, i)), rep).await;
            }
        }
        for (pool, zone) in [("emea", "Europe/Berlin"), ("amer", "America/New_York")] {
            let day = json!([{"from": "09:00", "to": "17:00"}]);
            let weekly: serde_json::Map<String, Value> = ["mon", "tue", "wed", "thu", "fri"]
                .iter()
                .map(|d| (d.to_string(), day.clone()))
                .collect();
            let calendar = json!({"time_zone": zone, "weekly": weekly, "holidays": []});
            self.put(&format!("/config/calendars/{pool}"), calendar)
                .await;
        }
        self.put("/config/sla_policies", policies()).await;
    }

    /// Carries out every arrival and accept before `minute` (an accept at the very minute of a
    /// tick comes first, as it would if the rep clicked a moment before the schedule fired).
    async fn events_before(&mut self, minute: Timestamp) {
        while let Some(Reverse((at, _))) = self.events.peek() {
            if *at > minute {
                return;
            }
            let Some(Reverse((at, event))) = self.events.pop() else {
                return;
            };
            self.clock.set(at);
            match event {
                Event::Arrive { lead } => self.arrive(lead, at).await,
                Event::Accept { lead, rep } => self.accept(&lead, &rep).await,
            }
            self.drain().await;
        }
    }

    /// The schedules at `now`, then the queues, as `serve`'s ticker and pump run them.
    async fn tick(&mut self, now: Timestamp) {
        self.clock.set(now);
        let started = Instant::now();
        if self.overlapping {
            let (one, two) =
                tokio::join!(self.stack.run_schedules(now), self.stack.run_schedules(now));
            one.and(two).expect("the schedules run");
        } else {
            self.stack
                .run_schedules(now)
                .await
                .expect("the schedules run");
        }
        self.drain().await;
        self.day.slowest_tick = self.day.slowest_tick.max(started.elapsed());
        self.day.ticks += 1;
    }

    /// The queues drained, then what the notifier posted read.
    async fn drain(&mut self) {
        let drained = self.stack.drain().await.expect("the queues drain");
        assert_eq!(drained.failed, 0, "no handler fails: {drained:?}");
        let posts: Vec<Post> = {
            let all = self.inbox.posts.lock().expect("inbox lock");
            all[self.read..].to_vec()
        };
        self.read += posts.len();
        for post in posts {
            self.notice(post);
        }
    }

    /// Whether nothing is left to happen: no event pending, no clock in the due index.
    async fn quiet(&self) -> bool {
        let due = self.stack.store().due("sla_clock", "9999", 1).await;
        self.events.is_empty() && due.expect("the due index reads").is_empty()
    }

    /// Lead `n`'s form delivery.
    async fn arrive(&mut self, n: usize, at: Timestamp) {
        let europe = self.rng.random_bool(0.5);
        let hand_raiser = self.rng.random_bool(0.4);
        let body = json!({
            "event_id": format!("sim-{n:05}"),
            "form_name": if hand_raiser { "Demo request" } else { "Pricing guide" },
            "submitted_at": rfc3339(at),
            "lead": {
                "email": format!("lead-{n:05}@firm-{n:05}.example"),
                "first_name": "Sam",
                "last_name": format!("Lead {n}"),
                "company": format!("Firm {n}"),
                // A vice president (fit 40, grade B) with a referral scores 95: no MQL.
                "job_title": "Chief Marketing Officer",
                "country": if europe { "DE" } else { "US" },
            },
            "attribution": {
                "utm_source": if hand_raiser { "google" } else { "referral" },
                "utm_campaign": "sim",
            },
        });
        let (status, _, _) = self
            .call(
                "POST",
                "/webhooks/generic/sim",
                None,
                &[("x-webhook-token", "test-secret")],
                Some(body),
            )
            .await;
        *self.day.webhooks.entry(status).or_default() += 1;
    }

    /// The rep accepts through the API, if the lead is still theirs to accept.
    async fn accept(&mut self, lead: &str, rep: &str) {
        let user = json!({"sub": rep, "roles": "rep", "rep_id": rep}).to_string();
        let path = format!("/leads/{lead}");
        let (status, etag, view) = self.call("GET", &path, Some(&user), &[], None).await;
        let still_theirs = status == 200 && view["owner"] == rep && view["stage"] == "mql";
        let Some(etag) = etag.filter(|_| still_theirs) else {
            self.day.refused += 1;
            return;
        };
        let key = format!("sim-accept-{lead}-{rep}");
        let headers = [
            ("idempotency-key", key.as_str()),
            ("if-match", etag.as_str()),
        ];
        let path = format!("/leads/{lead}/accept");
        let (status, _, answer) = self.call("POST", &path, Some(&user), &headers, None).await;
        match status {
            200 => self.day.accepted += 1,
            403 | 409 => self.day.refused += 1,
            other => panic!("accept answered {other}: {answer}"),
        }
    }

    /// Reads one notice as its recipient would.
    fn notice(&mut self, post: Post) {
        let body = &post.body;
        let kind = body["kind"].as_str().unwrap_or("?").to_owned();
        *self.day.posted.entry(kind.clone()).or_default() += 1;
        let lead = body["lead"]["id"].as_str().unwrap_or_default().to_owned();
        let rep = body["rep"].as_str().map(str::to_owned);
        let due_at = body["sla"]["due_at"]
            .as_str()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.to_utc());
        match (kind.as_str(), due_at) {
            ("sla_breached", Some(due_at)) => {
                let seen = Detection {
                    due_at,
                    told_at: post.at,
                };
                self.day.breaches.entry((lead, rep)).or_default().push(seen);
            }
            ("sla_reminder", _) => *self.day.reminders.entry((lead, rep)).or_default() += 1,
            ("lead_assigned", Some(due_at)) => {
                if let Some(rep) = rep.filter(|r| answers(r)) {
                    self.plan_accept(lead, rep, post.at, due_at);
                }
            }
            _ => {}
        }
    }

    /// Schedules the rep's accept at a random moment between `now` and the clock's due time.
    fn plan_accept(&mut self, lead: String, rep: String, now: Timestamp, due_at: Timestamp) {
        let window = (due_at - now).num_seconds().max(1);
        let at = now + Duration::seconds(self.rng.random_range(0..window));
        self.events.push(Reverse((at, Event::Accept { lead, rep })));
    }

    /// The funnel report of the simulated week by team and by rep, as a manager reads it.
    async fn reports(&mut self, traffic: Traffic) {
        for group in ["team", "rep"] {
            let path = format!(
                "/reports/funnel?from={}&to={}&group_by={group}",
                rfc3339(traffic.day),
                rfc3339(traffic.day + Duration::days(1 + AFTERMATH_DAYS + 1)),
            );
            let (status, _, report) = self.call("GET", &path, Some(ADMIN), &[], None).await;
            assert_eq!(status, 200, "{report}");
            self.day.reports.insert(group, report);
        }
    }

    async fn stored_clocks(&self) -> BTreeMap<String, SlaClock> {
        let mut all = BTreeMap::new();
        let mut cursor = None;
        loop {
            let page = self
                .stack
                .store()
                .list("sla_clock", "", cursor, MAX_PAGE)
                .await;
            let page = page.expect("clocks list");
            for d in page.items {
                let clock: SlaClock = serde_json::from_value(d.body).expect("a clock");
                all.insert(clock.id.clone(), clock);
            }
            match page.next {
                Some(next) => cursor = Some(next),
                None => return all,
            }
        }
    }
}

/// The SLA policies, as an admin would type them.
fn policies() -> Value {
    let ladder = |remind: u8| {
        json!({"remind_at_percent": remind, "reassign": true, "max_reassignments": 1,
               "notify_manager": true})
    };
    json!({"policies": [
        {"id": "hand_raiser_accept", "clock": "rep_response", "stage": "mql",
         "lead_kind": "hand_raiser", "target_minutes": 15, "escalation": ladder(50)},
        {"id": "mql_accept", "clock": "rep_response", "stage": "mql",
         "target_minutes": 240, "escalation": ladder(80)},
        {"id": "routing_latency", "clock": "routing_latency", "stage": "mql",
         "target_minutes": 5, "escalation": {"notify_manager": true}},
    ]})
}

/// The nearest-rank percentile `p` of sorted values.
pub fn nearest_rank(sorted: &[Duration], p: f64) -> Option<Duration> {
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.max(1) - 1).copied()
}
