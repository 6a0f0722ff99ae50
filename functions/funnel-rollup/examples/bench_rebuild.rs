//! Benchmark: a full rebuild of the funnel report from 1 M leads and 5 M transitions, and the
//! same aggregation in DuckDB over the same data exported to CSV, in the same run.
//!
//! ```text
//! infra/scripts/bench-rebuild.sh [--leads N] [--snapshots]   # installs DuckDB into .venv, runs this
//! ```
//!
//! The data is generated deterministically (a fixed-seed xorshift): every lead takes one of
//! four five-step paths through the stage machine (won; disqualified, recycled and back as an
//! MQL; disqualified after SAL; disqualified after a skip to SQL), so N leads give exactly 5 N
//! transitions. The Rust side is `funnel::report` by source over the whole period (entries,
//! the six cohort conversions with median and p90, time in stage, disqualification reasons,
//! recycling). The DuckDB side computes entries, the six conversions with median and p90, time
//! in stage and reasons (not recycling) with SQL over a table loaded from the CSV; loading is
//! timed apart from aggregating. Both sides' MQL→SQL totals are printed as a cross-check.
//! `--snapshots` also times rebuilding every daily snapshot in every grouping.
//!
//! Python is taken from `$DUCKDB_PYTHON`, else the repository's `.venv/bin/python`, else
//! `python3`.

use chrono::{TimeZone, Utc};
use lifecycle::{
    funnel::{self, Dimension, Period},
    transition::{Actor, Dimensions},
    CauseId, JourneyState, LeadId, Reason, Stage, StageEvent, StageOutcome, Timestamp, Transition,
};
use std::{
    io::{BufWriter, Write},
    path::{Path, PathBuf},
    process::Command,
    time::Instant,
};

const PATHS: [[Stage; 5]; 4] = [
    [Stage::New, Stage::Mql, Stage::Sal, Stage::Sql, Stage::Won],
    [
        Stage::New,
        Stage::Mql,
        Stage::Disqualified,
        Stage::Recycled,
        Stage::Mql,
    ],
    [
        Stage::New,
        Stage::Mql,
        Stage::Sal,
        Stage::Disqualified,
        Stage::Recycled,
    ],
    [
        Stage::New,
        Stage::Mql,
        Stage::Sql,
        Stage::Disqualified,
        Stage::Recycled,
    ],
];
const SOURCES: [&str; 8] = [
    "google", "linkedin", "bing", "email", "webinar", "referral", "direct", "",
];
const REASONS: [&str; 4] = ["no_budget", "competitor", "not_a_fit", "no_response"];

/// A small deterministic generator (xorshift64*): the same data on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn generate(leads: u64) -> Vec<Transition> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let base = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap();
    let mut out = Vec::with_capacity(leads as usize * 5);
    for i in 0..leads {
        let lead = LeadId::new(format!("lead-{i:07}"));
        let source = SOURCES[rng.below(8) as usize];
        let path = PATHS[rng.below(4) as usize];
        let mut at = base + chrono::Duration::seconds(rng.below(365 * 86_400) as i64);
        let mut state = JourneyState::default();
        for (step, stage) in path.into_iter().enumerate() {
            if step > 0 {
                at += chrono::Duration::seconds(rng.below(15 * 86_400) as i64);
            }
            let event = StageEvent {
                to: stage,
                cause: CauseId::new(format!("{i}-{step}")),
                actor: Actor::System {
                    component: "bench".into(),
                },
                reason: stage
                    .closes_cycle()
                    .then(|| Reason::code(REASONS[rng.below(4) as usize])),
                effective_at: at,
                recorded_at: at + chrono::Duration::seconds(rng.below(2 * 86_400) as i64),
                dims: Dimensions {
                    source: (!source.is_empty()).then(|| source.to_owned()),
                    ..Dimensions::default()
                },
            };
            match state.apply(&lead, &event) {
                Ok(StageOutcome::Applied(t)) => out.push(t),
                other => panic!("lead {i} step {step}: the generator made {other:?}"),
            }
        }
    }
    out
}

fn export_csv(transitions: &[Transition], path: &Path) -> std::io::Result<()> {
    let mut w = BufWriter::new(std::fs::File::create(path)?);
    writeln!(
        w,
        "lead_id,seq,cycle,stage,stage_rank,effective,recorded,source,reason"
    )?;
    for t in transitions {
        writeln!(
            w,
            "{},{},{},{},{},{},{},{},{}",
            t.lead_id,
            t.seq,
            t.cycle,
            t.to,
            t.to.rank().map_or(String::new(), |r| r.to_string()),
            t.effective_at.timestamp(),
            t.recorded_at.timestamp(),
            t.dims.source.as_deref().unwrap_or(funnel::NONE),
            t.reason.as_ref().map_or("", |r| r.code.as_str()),
        )?;
    }
    w.flush()
}

const DUCKDB_SCRIPT: &str = r#"
import duckdb, json, sys, time
csv, start, end, as_of = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
con = duckdb.connect()
con.execute("SET enable_progress_bar = false")
t0 = time.perf_counter()
con.execute(f"""CREATE TABLE t AS SELECT * FROM read_csv('{csv}', header=true, columns={{
  'lead_id':'VARCHAR','seq':'INTEGER','cycle':'INTEGER','stage':'VARCHAR','stage_rank':'INTEGER',
  'effective':'BIGINT','recorded':'BIGINT','source':'VARCHAR','reason':'VARCHAR'}})""")
t1 = time.perf_counter()
p = f"effective >= {start} AND effective < {end}"
con.execute(f"CREATE TEMP TABLE v AS SELECT * FROM t WHERE recorded <= {as_of}")
entered = con.execute(f"SELECT source, stage, count(*) FROM v WHERE {p} GROUP BY ALL").fetchall()
cohorts = con.execute(f"""
WITH e AS (SELECT lead_id, cycle, stage_rank AS rk, arg_min(source, seq) AS src,
                  arg_min(effective, seq) AS eff
           FROM v WHERE stage_rank IS NOT NULL GROUP BY ALL),
r AS (SELECT lead_id, cycle, min(eff) FILTER (WHERE rk >= 1) AS r1,
             min(eff) FILTER (WHERE rk >= 2) AS r2, min(eff) FILTER (WHERE rk >= 3) AS r3,
             min(eff) FILTER (WHERE rk >= 4) AS r4
      FROM e GROUP BY ALL),
p(f, tr) AS (VALUES (0, 1), (1, 2), (2, 3), (3, 4), (1, 3), (1, 4)),
c AS (SELECT p.f, p.tr, e.src, e.eff AS st,
             CASE p.tr WHEN 1 THEN r.r1 WHEN 2 THEN r.r2 WHEN 3 THEN r.r3 ELSE r.r4 END AS reached
      FROM e JOIN p ON e.rk = p.f JOIN r USING (lead_id, cycle)
      WHERE e.eff >= {start} AND e.eff < {end})
SELECT f, tr, src, count(*), count(reached), median((reached - st) / 86400.0),
       quantile_disc((reached - st) / 86400.0, 0.9)
FROM c GROUP BY ALL""").fetchall()
stays = con.execute(f"""
SELECT source, stage, count(d), median(d), quantile_disc(d, 0.9) FROM (
  SELECT source, stage, effective,
         (lead(effective) OVER (PARTITION BY lead_id ORDER BY effective, seq) - effective)
           / 86400.0 AS d
  FROM v) WHERE d IS NOT NULL AND {p} GROUP BY ALL""").fetchall()
reasons = con.execute(
  f"SELECT source, reason, count(*) FROM v WHERE stage = 'disqualified' AND {p} GROUP BY ALL"
).fetchall()
t2 = time.perf_counter()
mql_sql = [c for c in cohorts if (c[0], c[1]) == (1, 3)]
print(json.dumps({
  "load_s": t1 - t0, "aggregate_s": t2 - t1,
  "mql_entered": sum(n for (_, s, n) in entered if s == "mql"),
  "mql_sql_cohort": sum(c[3] for c in mql_sql), "mql_sql_converted": sum(c[4] for c in mql_sql),
  "rows": len(entered) + len(cohorts) + len(stays) + len(reasons)}))
"#;

fn python() -> PathBuf {
    if let Ok(p) = std::env::var("DUCKDB_PYTHON") {
        return p.into();
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python");
    if venv.exists() {
        return venv;
    }
    "python3".into()
}

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn main() {
    let leads: u64 = arg("--leads").map_or(1_000_000, |n| n.parse().expect("--leads N"));
    let snapshots = std::env::args().any(|a| a == "--snapshots");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let csv = dir.path().join("transitions.csv");
    let period = Period {
        from: Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap(),
        to: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
    };
    let as_of: Timestamp = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();

    let started = Instant::now();
    let transitions = generate(leads);
    println!(
        "generated {leads} leads, {} transitions in {:.2} s",
        transitions.len(),
        started.elapsed().as_secs_f64()
    );

    let started = Instant::now();
    let report = funnel::report(&transitions, period, Dimension::Source, as_of);
    let rust_s = started.elapsed().as_secs_f64();
    let mql_sql = report
        .total
        .conversions
        .iter()
        .find(|c| (c.from, c.to) == (Stage::Mql, Stage::Sql))
        .expect("every report has MQL→SQL");
    println!("rust   full rebuild (report by source): {rust_s:.3} s");
    println!(
        "rust   MQLs entered {}, MQL→SQL cohort {} converted {}",
        report.total.entered[&Stage::Mql],
        mql_sql.cohort,
        mql_sql.converted
    );

    if snapshots {
        let started = Instant::now();
        let all = funnel_rollup::snapshot::rebuild(&transitions, &[], as_of);
        println!(
            "rust   every daily snapshot, every grouping: {} snapshots in {:.3} s",
            all.len(),
            started.elapsed().as_secs_f64()
        );
    }

    let started = Instant::now();
    export_csv(&transitions, &csv).expect("CSV written");
    println!("export CSV: {:.2} s", started.elapsed().as_secs_f64());
    drop(transitions);

    let out = Command::new(python())
        .arg("-c")
        .arg(DUCKDB_SCRIPT)
        .arg(&csv)
        .arg(period.from.timestamp().to_string())
        .arg(period.to.timestamp().to_string())
        .arg(as_of.timestamp().to_string())
        .output()
        .expect("python runs");
    if !out.status.success() {
        eprintln!(
            "duckdb run failed (is the duckdb package installed for {}?):\n{}",
            python().display(),
            String::from_utf8_lossy(&out.stderr)
        );
        std::process::exit(1);
    }
    // The figures are the script's last line (DuckDB may print other things before it).
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().unwrap_or_default();
    let duck: serde_json::Value = serde_json::from_str(last).expect("the script prints JSON");
    let load = duck["load_s"].as_f64().unwrap_or(f64::NAN);
    let aggregate = duck["aggregate_s"].as_f64().unwrap_or(f64::NAN);
    println!("duckdb load CSV: {load:.3} s");
    println!(
        "duckdb aggregate: {aggregate:.3} s ({} result rows)",
        duck["rows"]
    );
    println!(
        "duckdb MQLs entered {}, MQL→SQL cohort {} converted {}",
        duck["mql_entered"], duck["mql_sql_cohort"], duck["mql_sql_converted"]
    );
    println!("ratio rust / duckdb aggregate: {:.2}", rust_s / aggregate);
    println!(
        "ratio rust / duckdb load + aggregate: {:.2}",
        rust_s / (load + aggregate)
    );
}
