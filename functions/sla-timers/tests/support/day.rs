//! A simulated day of traffic for the SLA sweep, shared by the `bench_lateness` example and the
//! `day` test: routing and the sweep wired directly on an embedded store whose clock is a
//! [`ManualClock`], so that a day and its aftermath run in seconds.
//!
//! Leads become MQLs at seeded random instants over 24 hours (business hours or not), in two
//! pools with their own calendars (Berlin and New York, 09:00-17:00 on weekdays). Their route
//! requests go on the MQL queue and routing takes them off it. Two reps in three accept each
//! lead they get at a random moment before its clock is due; the third never does. Every
//! simulated minute the sweep runs once with that minute as "now", as the schedule would run
//! it, and what it sends is drained: reassignments back through routing, notices recorded.
//!
//! What happened is read from the messages the pipeline sent and from the stored clocks, not
//! from the sweep's own report, so the test can judge the sweep by its effects.

use chrono::{DateTime, Duration, DurationRound};
use embedded::EmbeddedStore;
use lifecycle::{
    funnel,
    journey::StageOutcome,
    routing::{Pool, PoolMember, PoolRule, RepAvailability, RouteRequest, RoutingConfig, Segment},
    sla::{
        BusinessCalendar, CalendarSpec, ClockKind, Escalation, LeadKind, OpenInterval, SlaClock,
        SlaPolicies, SlaPolicy, WallTime, WeeklyHours, Zone,
    },
    transition::Actor,
    CauseId, Email, JourneyState, Lead, LeadId, RepId, Stage, StageEvent, Timestamp,
};
use ports::{
    Commit, CommitOutcome, DocumentStore, Expect, JourneyStore, LeadWrite, ManualClock, Message,
    Queue, QueueConsumer, Topic, MAX_PAGE,
};
use rand::{rngs::StdRng, Rng, SeedableRng};
use routing::{docs, Notice, Router};
use serde::Serialize;
use sla_timers::Sweeper;
use std::{
    cmp::Reverse,
    collections::{BTreeMap, BinaryHeap},
    sync::Arc,
    time::Instant,
};

/// Reps per pool; every third never answers.
const REPS_PER_POOL: usize = 12;
/// How long after the last arrival the simulation keeps sweeping, at most: long enough for a
/// Friday-night lead's second clock, after a weekend.
const AFTERMATH_DAYS: i64 = 5;

/// What to simulate.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Traffic {
    /// MQLs over the day.
    pub(crate) leads: usize,
    /// Seed of the arrival times, kinds, pools and reply delays.
    pub(crate) seed: u64,
    /// Midnight UTC of the simulated day.
    pub(crate) day: Timestamp,
    /// Run two sweeps at once every minute, as a schedule may when one invocation is slow.
    pub(crate) overlapping: bool,
}

/// A breach and when the sweep acted on it.
#[derive(Debug, Clone)]
pub(crate) struct Detection {
    /// The clock.
    pub(crate) clock: String,
    /// Its due time, as the notice states it.
    pub(crate) due_at: Timestamp,
    /// The sweep's "now" when it sent the notice.
    pub(crate) detected_at: Timestamp,
}

impl Detection {
    /// How long after the due time the breach was acted on.
    pub(crate) fn lateness(&self) -> Duration {
        self.detected_at - self.due_at
    }
}

/// What the simulated day did, as seen from the messages sent and the clocks stored.
#[derive(Debug, Default)]
pub(crate) struct Day {
    /// Every clock stored, by id, at the end.
    pub(crate) clocks: BTreeMap<String, SlaClock>,
    /// The first breach notice of each clock.
    pub(crate) detections: BTreeMap<String, Detection>,
    /// Deliveries per message id, for the notices and reassignment requests of SLA steps
    /// (`notice:<clock>:<step>` and `<clock>:reassign`). One each means each step once.
    pub(crate) step_messages: BTreeMap<String, usize>,
    /// Leads accepted by their rep.
    pub(crate) accepted: usize,
    /// Sweeps run.
    pub(crate) sweeps: usize,
    /// The longest single sweep, wall time.
    pub(crate) slowest_sweep: std::time::Duration,
    /// The whole run, wall time.
    pub(crate) wall: std::time::Duration,
}

impl Day {
    /// Step messages whose id ends with `:<step>`.
    pub(crate) fn steps(&self, step: &str) -> usize {
        let suffix = format!(":{step}");
        self.step_messages
            .keys()
            .filter(|id| id.ends_with(&suffix))
            .count()
    }

    /// The lateness of every detection, sorted.
    pub(crate) fn lateness(&self) -> Vec<Duration> {
        let mut all: Vec<Duration> = self.detections.values().map(Detection::lateness).collect();
        all.sort();
        all
    }
}

/// Something due in the simulation besides the sweeps.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    /// A lead becomes an MQL and is sent to routing.
    Arrive { lead: usize },
    /// A rep accepts a lead.
    Accept { lead: LeadId, rep: RepId },
}

/// The store, the functions and the simulated clock.
struct Sim {
    store: EmbeddedStore,
    clock: Arc<ManualClock>,
    router: Router,
    sweeper: Sweeper,
    overlapping: bool,
    rng: StdRng,
    events: BinaryHeap<Reverse<(Timestamp, Event)>>,
    day: Day,
}

/// Runs the day.
pub(crate) async fn run(traffic: Traffic) -> Day {
    let started = Instant::now();
    let mut sim = Sim::new(traffic).await;
    for (lead, at) in arrivals(&mut sim.rng, traffic).into_iter().enumerate() {
        sim.events.push(Reverse((at, Event::Arrive { lead })));
    }

    let end = traffic.day + Duration::days(1 + AFTERMATH_DAYS);
    let mut minute = traffic.day;
    while minute <= end {
        sim.events_before(minute).await;
        sim.sweep(minute).await;
        if minute > traffic.day + Duration::days(1) && sim.quiet().await {
            break;
        }
        minute += Duration::minutes(1);
    }

    sim.day.clocks = sim.stored_clocks().await;
    sim.day.wall = started.elapsed();
    sim.day
}

/// Seeded arrival instants over the day, to the second, in order.
fn arrivals(rng: &mut StdRng, traffic: Traffic) -> Vec<Timestamp> {
    let mut at: Vec<Timestamp> = (0..traffic.leads)
        .map(|_| traffic.day + Duration::seconds(rng.random_range(0..86_400)))
        .collect();
    at.sort();
    at
}

fn rep_name(pool: &str, i: usize) -> String {
    format!("{pool}-rep-{i:02}")
}

/// Every third rep never answers.
fn answers(rep: &RepId) -> bool {
    let number: usize = rep
        .as_str()
        .rsplit('-')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    number % 3 != 0
}

impl Sim {
    async fn new(traffic: Traffic) -> Self {
        let clock = Arc::new(ManualClock::new(traffic.day));
        let store = EmbeddedStore::in_memory()
            .expect("in-memory store opens")
            .with_clock(clock.clone());
        setup(&store).await;
        let s = Arc::new(store.clone());
        Sim {
            router: Router::new(s.clone(), s.clone(), s.clone()),
            sweeper: Sweeper::new(s.clone(), s.clone(), s),
            overlapping: traffic.overlapping,
            store,
            clock,
            rng: StdRng::seed_from_u64(traffic.seed),
            events: BinaryHeap::new(),
            day: Day::default(),
        }
    }

    /// Carries out every arrival and accept before `minute` (an accept at the very minute of a
    /// sweep comes first, as it would if the rep clicked a moment before the schedule fired).
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
                Event::Accept { lead, rep } => self.accept(&lead, &rep, at).await,
            }
            self.drain(at).await;
        }
    }

    async fn sweep(&mut self, now: Timestamp) {
        self.clock.set(now);
        let started = Instant::now();
        if self.overlapping {
            let (one, two) = tokio::join!(self.sweeper.sweep(now), self.sweeper.sweep(now));
            one.and(two).expect("sweeps succeed");
        } else {
            self.sweeper.sweep(now).await.expect("sweep succeeds");
        }
        self.day.slowest_sweep = self.day.slowest_sweep.max(started.elapsed());
        self.day.sweeps += 1;
        self.drain(now).await;
    }

    /// Whether nothing is left to happen: no clock waits in the due index, no event pending.
    async fn quiet(&self) -> bool {
        let due = self.store.due(docs::SLA_CLOCK, "9999", 1).await;
        self.events.is_empty() && due.expect("due index reads").is_empty()
    }

    /// Stores lead `n` as an MQL at `at` and sends its route request, as scoring would.
    async fn arrive(&mut self, n: usize, at: Timestamp) {
        let id = LeadId::new(format!("lead-{n:05}"));
        let europe = self.rng.random_bool(0.5);
        let kind = if self.rng.random_bool(0.4) {
            LeadKind::HandRaiser
        } else {
            LeadKind::Behavioural
        };
        store_mql(&self.store, &id, if europe { "DE" } else { "US" }, at).await;

        let request = RouteRequest {
            lead: id.clone(),
            cycle: 1,
            lead_kind: kind,
            requested_at: at,
            reassignment: None,
        };
        let message = Message {
            topic: Topic::Mqls,
            id: format!("mql:{id}:1"),
            body: serde_json::to_string(&request).expect("route request encodes"),
            delay_seconds: 0,
        };
        self.store.send(&[message]).await.expect("queue takes it");
    }

    /// The rep accepts, the way the API does: the lead to SAL and its clocks stopped, in one
    /// commit.
    async fn accept(&mut self, id: &LeadId, rep: &RepId, at: Timestamp) {
        let lead = self
            .store
            .lead(id)
            .await
            .expect("lead reads")
            .expect("lead exists");
        if lead.owner.as_ref() != Some(rep) || lead.stage() != Stage::Mql {
            return;
        }
        let event = StageEvent {
            to: Stage::Sal,
            cause: CauseId::new(format!("sim:accept:{id}:{rep}")),
            actor: Actor::Rep { id: rep.clone() },
            reason: None,
            effective_at: at,
            recorded_at: at,
            dims: lead.dimensions(),
        };
        let Ok(StageOutcome::Applied(t)) = lead.journey.decide(&lead.id, &event) else {
            return;
        };
        let mut next = lead.clone();
        next.journey.push(&t);
        next.version = lead.version + 1;
        next.updated_at = at;

        let mut commit = Commit::claiming(format!("sim:accept:{id}:{rep}"), None);
        for kind in [ClockKind::RoutingLatency, ClockKind::RepResponse] {
            let dims = lead.dimensions();
            let stops = sla_timers::stop_writes(&self.store, (id, &dims), 1, kind, at).await;
            commit.documents.extend(stops.expect("clocks read"));
        }
        commit.counters = funnel::counter_deltas(&t);
        commit.transitions.push(t);
        commit.lead = Some(LeadWrite {
            lead: next,
            expect: Expect::Version(lead.version),
            new_identities: Vec::new(),
        });
        let outcome = self.store.commit(commit).await.expect("accept commits");
        assert_eq!(
            outcome,
            CommitOutcome::Committed,
            "nothing else writes meanwhile"
        );
        self.day.accepted += 1;
    }

    /// Takes everything off the queues the sweep and routing write to, until they are empty:
    /// route requests to routing, notices recorded (and acted on by the reps who answer).
    async fn drain(&mut self, now: Timestamp) {
        loop {
            let requests = self
                .store
                .receive(Topic::Mqls, 10, 60)
                .await
                .expect("queue reads");
            let notices = self
                .store
                .receive(Topic::Notifications, 10, 60)
                .await
                .expect("queue reads");
            let events = self.store.receive(Topic::JourneyEvents, 10, 60).await;
            if requests.is_empty() && notices.is_empty() {
                for d in events.expect("queue reads") {
                    self.store
                        .ack(Topic::JourneyEvents, &d.receipt)
                        .await
                        .expect("ack");
                }
                return;
            }
            for d in requests {
                if d.id.ends_with(":reassign") {
                    *self.day.step_messages.entry(d.id.clone()).or_default() += 1;
                }
                self.router
                    .handle_message(&d.body, now)
                    .await
                    .expect("routing succeeds");
                self.store.ack(Topic::Mqls, &d.receipt).await.expect("ack");
            }
            for d in notices {
                let notice: Notice = serde_json::from_str(&d.body).expect("notice decodes");
                self.notice(&d.id, notice, now).await;
                self.store
                    .ack(Topic::Notifications, &d.receipt)
                    .await
                    .expect("ack");
            }
            for d in events.expect("queue reads") {
                self.store
                    .ack(Topic::JourneyEvents, &d.receipt)
                    .await
                    .expect("ack");
            }
        }
    }

    async fn notice(&mut self, id: &str, notice: Notice, now: Timestamp) {
        if id.starts_with("notice:") {
            *self.day.step_messages.entry(id.to_owned()).or_default() += 1;
        }
        match notice {
            Notice::SlaBreached { clock, due_at, .. } => {
                let detection = Detection {
                    clock: clock.clone(),
                    due_at,
                    detected_at: now,
                };
                self.day.detections.entry(clock).or_insert(detection);
            }
            Notice::LeadAssigned { lead, rep, .. } if answers(&rep) => {
                self.plan_accept(lead, rep, now).await;
            }
            _ => {}
        }
    }

    /// Schedules the rep's accept at a random moment between now and the running clock's due
    /// time.
    async fn plan_accept(&mut self, lead: LeadId, rep: RepId, now: Timestamp) {
        let clocks = self.clocks_of(&lead).await;
        let Some(running) = clocks
            .iter()
            .find(|c| c.owner.as_ref() == Some(&rep) && c.stopped_at.is_none())
        else {
            return;
        };
        let window = (running.due_at - now).num_seconds().max(1);
        let at = now + Duration::seconds(self.rng.random_range(0..window));
        self.events.push(Reverse((at, Event::Accept { lead, rep })));
    }

    async fn clocks_of(&self, lead: &LeadId) -> Vec<SlaClock> {
        let prefix = format!("{lead}:1:{}:", ClockKind::RepResponse);
        let page = self
            .store
            .list(docs::SLA_CLOCK, &prefix, None, MAX_PAGE)
            .await;
        let docs = page.expect("clocks list").items;
        docs.into_iter()
            .map(|d| serde_json::from_value(d.body).expect("clock decodes"))
            .collect()
    }

    async fn stored_clocks(&self) -> BTreeMap<String, SlaClock> {
        let mut all = BTreeMap::new();
        let mut cursor = None;
        loop {
            let page = self.store.list(docs::SLA_CLOCK, "", cursor, MAX_PAGE).await;
            let page = page.expect("clocks list");
            for d in page.items {
                let clock: SlaClock = serde_json::from_value(d.body).expect("clock decodes");
                all.insert(clock.id.clone(), clock);
            }
            match page.next {
                Some(next) => cursor = Some(next),
                None => return all,
            }
        }
    }
}

/// The routing configuration, the policies, the calendars and the reps.
async fn setup(store: &EmbeddedStore) {
    let pool = |id: &str, manager: &str| Pool {
        id: id.into(),
        strategy: Default::default(),
        members: (0..REPS_PER_POOL)
            .map(|i| PoolMember::new(rep_name(id, i).as_str()))
            .collect(),
        account_match: false,
        returning: Default::default(),
        overflow_queue: format!("{id}_overflow"),
        manager: Some(RepId::new(manager)),
        notify: None,
    };
    let europe = PoolRule {
        id: "europe".into(),
        segment: Segment {
            countries: vec!["DE".into()],
            ..Segment::default()
        },
        pool: "emea".into(),
    };
    let config = RoutingConfig {
        pools: vec![pool("emea", "emea-boss"), pool("amer", "amer-boss")],
        rules: vec![europe],
        default_pool: "amer".into(),
    };
    put(store, docs::CONFIG, docs::ROUTING_CONFIG, &config).await;
    put(store, docs::CONFIG, docs::SLA_POLICIES, &policies()).await;
    put(
        store,
        docs::CALENDAR,
        "emea",
        &nine_to_five("Europe/Berlin"),
    )
    .await;
    put(
        store,
        docs::CALENDAR,
        "amer",
        &nine_to_five("America/New_York"),
    )
    .await;
    for pool in ["emea", "amer"] {
        for i in 0..REPS_PER_POOL {
            let rep = rep_name(pool, i);
            put(
                store,
                docs::REP,
                &rep,
                &RepAvailability::active(rep.as_str()),
            )
            .await;
        }
    }
}

/// A hand raiser accepted within 15 business minutes, any other MQL within 4 business hours;
/// a reminder at half (hand raiser) or 80 % of the target, on breach the manager told and the
/// lead reassigned once, then overflowed. Routing itself must assign within 5 minutes.
pub(crate) fn policies() -> SlaPolicies {
    let ladder = |remind| Escalation {
        remind_at_percent: Some(remind),
        reassign: true,
        max_reassignments: 1,
        notify_manager: true,
    };
    let hand_raiser = SlaPolicy {
        id: "hand_raiser_accept".into(),
        clock: ClockKind::RepResponse,
        stage: Stage::Mql,
        lead_kind: Some(LeadKind::HandRaiser),
        target_minutes: 15,
        escalation: ladder(50),
    };
    let behavioural = SlaPolicy {
        id: "mql_accept".into(),
        lead_kind: None,
        target_minutes: 240,
        escalation: ladder(80),
        ..hand_raiser.clone()
    };
    let latency = SlaPolicy {
        id: "routing_latency".into(),
        clock: ClockKind::RoutingLatency,
        lead_kind: None,
        target_minutes: 5,
        escalation: Escalation::default(),
        ..hand_raiser.clone()
    };
    SlaPolicies {
        policies: vec![hand_raiser, behavioural, latency],
    }
}

fn nine_to_five(zone: &str) -> BusinessCalendar {
    let hm = |h| WallTime::hm(h, 0).expect("a time of day");
    let spec = CalendarSpec {
        time_zone: Zone::parse(zone).expect("a known zone"),
        weekly: WeeklyHours::weekdays(&[OpenInterval::new(hm(9), hm(17))]),
        holidays: Default::default(),
    };
    BusinessCalendar::new(spec).expect("a valid calendar")
}

async fn put<T: Serialize>(store: &EmbeddedStore, collection: &str, key: &str, value: &T) {
    let mut commit = Commit::default();
    let write = docs::put(collection, key, value, 0, None).expect("document encodes");
    commit.documents.push(write);
    let outcome = store.commit(commit).await.expect("setup commits");
    assert_eq!(outcome, CommitOutcome::Committed);
}

/// Stores a new lead from `country` that entered and became an MQL at `at`.
async fn store_mql(store: &EmbeddedStore, id: &LeadId, country: &str, at: Timestamp) {
    let mut lead = Lead::new(id.clone(), at);
    lead.email = Some(Email::parse(&format!("{id}@quillfield.example")).expect("an e-mail"));
    lead.profile.country = Some(country.into());
    let mut journey = JourneyState::default();
    let mut transitions = Vec::new();
    for to in [Stage::New, Stage::Mql] {
        let event = StageEvent {
            to,
            cause: CauseId::new(format!("sim:{id}:{to}")),
            actor: Actor::System {
                component: "sim".into(),
            },
            reason: None,
            effective_at: at,
            recorded_at: at,
            dims: Default::default(),
        };
        if let Ok(StageOutcome::Applied(t)) = journey.apply(&lead.id, &event) {
            transitions.push(t);
        }
    }
    lead.journey = journey;
    lead.version = 1;
    let write = LeadWrite {
        lead,
        expect: Expect::Absent,
        new_identities: Vec::new(),
    };
    let commit = Commit {
        lead: Some(write),
        transitions,
        ..Commit::default()
    };
    store.commit(commit).await.expect("lead commits");
}

/// The simulated day's midnight, to the minute (the sweeps run on whole minutes).
pub(crate) fn midnight(rfc3339: &str) -> Timestamp {
    let t = DateTime::parse_from_rfc3339(rfc3339)
        .expect("an RFC 3339 instant")
        .to_utc();
    t.duration_trunc(Duration::minutes(1)).expect("truncates")
}
