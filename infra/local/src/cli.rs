//! The `journey` command line: arguments, and what each command does with them.

use crate::{
    import::{self, mapping::Mapping, Summary},
    report::{self, Format},
    seed, serve,
    stack::{Stack, StackConfig, DEV_WEBHOOK_SECRET},
};
use anyhow::{Context, Result};
use chrono::{DateTime, Datelike, Months, NaiveDate, Utc};
use clap::{Parser, Subcommand};
use embedded::EmbeddedStore;
use funnel_rollup::{
    costs,
    planning::{self, PlanRequest, PlanningError},
    query::{self, Prefer, Request},
};
use lifecycle::funnel::{Dimension, Period};
use ports::{CommitOutcome, Extent, JourneyStore, SystemClock};
use std::{io::Write, path::PathBuf, sync::Arc};

/// Lead journey, on this machine: every function in one process on one SQLite file.
#[derive(Debug, Parser)]
#[command(name = "journey", version, about)]
pub struct Cli {
    /// The store file (created if missing).
    #[arg(long, global = true, env = "JOURNEY_DB", default_value = "journey.db")]
    pub db: PathBuf,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Import the bundled sample CRM export and print its funnel report.
    Demo(ReportArgs),
    /// Import a CSV export of leads with a column mapping file.
    Import {
        /// The mapping file (TOML): which column holds what.
        #[arg(long)]
        mapping: PathBuf,
        /// The CSV file.
        file: PathBuf,
        /// Exit with status 2 if any row was rejected.
        #[arg(long)]
        strict: bool,
    },
    /// Print the funnel report.
    Report(ReportArgs),
    /// Print the plan: the MQLs, SALs and SQLs each month needs to reach a revenue target.
    Plan(PlanArgs),
    /// Store campaign costs from a CSV file (`campaign,month,amount`, month as YYYY-MM).
    Costs {
        /// The CSV file.
        file: PathBuf,
        /// Exit with status 2 if any row was rejected.
        #[arg(long)]
        strict: bool,
    },
    /// Print the campaign return: cost per MQL, SAL and SQL by campaign, month by month.
    Roi(RoiArgs),
    /// Run every function in one process on 127.0.0.1: webhooks, tracking, the API, the queues
    /// and the schedules.
    Serve(ServeArgs),
    /// Rescore every lead under the scoring rules in force (after a rule change): each ledger
    /// records the change; a lead the new rules qualify becomes an MQL from now. Running it
    /// again changes nothing. Exits with status 2 if any lead failed.
    Rescore {
        /// Leads read per page.
        #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u16).range(1..=1000))]
        page_size: u16,
    },
}

/// Serve options. The functions' own environment variables apply too
/// (`WEBHOOK_SECRET_<PROVIDER>`, `WEBHOOK_FORMS`, `TRACKING_API_KEYS`, `PUBLIC_BASE_URL`).
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// The port on 127.0.0.1 (0: any free port).
    #[arg(long, default_value_t = 3000)]
    pub port: u16,
    /// The secret of every webhook provider without its own `WEBHOOK_SECRET_<PROVIDER>`, and
    /// Meta's verify token unless `WEBHOOK_META_VERIFY_TOKEN` is set.
    #[arg(long, env = "JOURNEY_WEBHOOK_SECRET", default_value = DEV_WEBHOOK_SECRET)]
    pub webhook_secret: String,
    /// Do not store the demo pool, rep, SLA policies and calendar at start.
    #[arg(long)]
    pub no_seed: bool,
}

/// Report options.
#[derive(Debug, Clone, clap::Args)]
pub struct ReportArgs {
    /// First day of the period (YYYY-MM-DD, UTC); default: the earliest transition.
    #[arg(long)]
    pub from: Option<NaiveDate>,
    /// Day after the period (YYYY-MM-DD, UTC, exclusive); default: the day after the latest.
    #[arg(long)]
    pub to: Option<NaiveDate>,
    /// Grouping: all, source, campaign, form, rep, grade, or team (the routing pool: groups
    /// SLA compliance only; transitions carry no team, so their entries are all "(none)").
    #[arg(long, default_value = "source", value_parser = parse_dimension)]
    pub group_by: Dimension,
    /// Output: table, json, csv.
    #[arg(long, default_value = "table")]
    pub format: Format,
}

/// Plan options.
#[derive(Debug, Clone, clap::Args)]
pub struct PlanArgs {
    /// Revenue to close over the whole plan.
    #[arg(long)]
    pub target_revenue: f64,
    /// Months the plan covers.
    #[arg(long, default_value_t = 12)]
    pub months: u32,
    /// First month of the plan (YYYY-MM); default: this month.
    #[arg(long, value_parser = parse_month)]
    pub start: Option<NaiveDate>,
    /// Average deal size (give it, or --won-revenue to measure it).
    #[arg(long)]
    pub deal_size: Option<f64>,
    /// Revenue won in the measured period: the deal size is measured as this / deals won.
    #[arg(long)]
    pub won_revenue: Option<f64>,
    /// Share of SQLs won; default: measured (SQL→won).
    #[arg(long)]
    pub win_rate: Option<f64>,
    /// First day measured (YYYY-MM-DD); default: the earliest transition.
    #[arg(long)]
    pub from: Option<NaiveDate>,
    /// Day after the last measured (YYYY-MM-DD); default: the day after the latest.
    #[arg(long)]
    pub to: Option<NaiveDate>,
    /// Output: table or json.
    #[arg(long, default_value = "table")]
    pub format: Format,
}

/// Campaign return options.
#[derive(Debug, Clone, clap::Args)]
pub struct RoiArgs {
    /// First month (YYYY-MM); default: the month of the earliest transition.
    #[arg(long, value_parser = parse_month)]
    pub from: Option<NaiveDate>,
    /// Month after the last (YYYY-MM); default: the month after the latest transition.
    #[arg(long, value_parser = parse_month)]
    pub to: Option<NaiveDate>,
    /// Days a cohort needs after its month before it is judged; default: measured (p90 days
    /// from MQL to SQL, or to won when the data has no SQLs).
    #[arg(long)]
    pub maturity_days: Option<f64>,
    /// Output: table or json.
    #[arg(long, default_value = "table")]
    pub format: Format,
}

fn parse_dimension(s: &str) -> Result<Dimension, String> {
    Dimension::ALL
        .into_iter()
        .find(|d| d.as_str() == s)
        .ok_or_else(|| {
            format!(
                "unknown grouping {s:?} (expected all, source, campaign, form, rep, grade or team)"
            )
        })
}

fn parse_month(s: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(&format!("{s}-01"), "%Y-%m-%d")
        .map_err(|_| format!("{s:?} is not a month (expected YYYY-MM)"))
}

const SAMPLE_CSV: &str = include_str!("../sample/crm-export.csv");
const SAMPLE_MAPPING: &str = include_str!("../sample/crm-export.toml");

/// Runs the parsed command line.
pub async fn run(cli: Cli, out: &mut dyn Write, err: &mut dyn Write) -> Result<i32> {
    // Opening a missing file makes an empty store; for a command that only reads, that is a
    // mistyped `--db` answered with an empty report, so it is refused instead.
    let reads_only = matches!(
        cli.command,
        Command::Report(_) | Command::Plan(_) | Command::Roi(_)
    );
    if reads_only && !cli.db.exists() {
        anyhow::bail!(
            "no store at {} (import into it first: `journey demo` or `journey import`)",
            cli.db.display()
        );
    }
    let store = EmbeddedStore::open(&cli.db)
        .with_context(|| format!("failed to open the store {}", cli.db.display()))?;
    let now = Utc::now();

    let status = match cli.command {
        Command::Demo(args) => {
            let mapping =
                Mapping::parse(SAMPLE_MAPPING).context("the bundled mapping is broken")?;
            let summary =
                import::import(&store, SAMPLE_CSV.as_bytes(), &mapping, &SystemClock).await?;
            print_summary(err, "sample/crm-export.csv", &summary)?;
            // Now, not the start: the import stamped its transitions as it committed them.
            print_report(&store, &args, Utc::now(), out).await?;
            Ok(0)
        }
        Command::Import {
            mapping,
            file,
            strict,
        } => {
            let text = std::fs::read_to_string(&mapping)
                .with_context(|| format!("failed to read {}", mapping.display()))?;
            let mapping =
                Mapping::parse(&text).with_context(|| format!("in {}", mapping.display()))?;
            let input = std::fs::File::open(&file)
                .with_context(|| format!("failed to open {}", file.display()))?;
            let summary = import::import(
                &store,
                std::io::BufReader::new(input),
                &mapping,
                &SystemClock,
            )
            .await?;
            print_summary(err, &file.display().to_string(), &summary)?;
            Ok(if strict && !summary.errors.is_empty() {
                2
            } else {
                0
            })
        }
        Command::Report(args) => {
            // Before the store is read, so the mistake is reported even on an empty store.
            if let (Some(from), Some(to)) = (args.from, args.to) {
                let midnight = |d: NaiveDate| d.and_time(chrono::NaiveTime::MIN).and_utc();
                check_period(&Period {
                    from: midnight(from),
                    to: midnight(to),
                })?;
            }
            print_report(&store, &args, now, out).await?;
            Ok(0)
        }
        Command::Serve(args) => {
            // `serve` checkpoints the store itself when it stops.
            run_serve(store, &args).await?;
            return Ok(0);
        }
        Command::Plan(args) => {
            print_plan(&store, &args, now, out).await?;
            Ok(0)
        }
        Command::Costs { file, strict } => {
            let bytes = std::fs::read(&file)
                .with_context(|| format!("failed to read {}", file.display()))?;
            let rejected = store_costs(&store, &bytes, &file.display().to_string(), err).await?;
            Ok(if strict && rejected > 0 { 2 } else { 0 })
        }
        Command::Roi(args) => {
            print_roi(&store, &args, now, out).await?;
            Ok(0)
        }
        Command::Rescore { page_size } => {
            rescore(&store, usize::from(page_size), now, out, err).await
        }
    };
    // The binary ends with `process::exit`, which closes nothing: fold the write-ahead log
    // into the file now, so the file alone holds the data (and erased data is gone from both).
    store
        .checkpoint()
        .await
        .context("failed to checkpoint the store")?;
    status
}

/// Stores the good rows of a costs CSV and lists the bad ones; returns how many were bad.
async fn store_costs(
    store: &EmbeddedStore,
    bytes: &[u8],
    name: &str,
    err: &mut dyn Write,
) -> Result<usize> {
    let parsed = costs::parse_csv(bytes);
    let outcome = costs::store(store, store, &parsed.costs)
        .await
        .context("failed to store the costs")?;
    if let CommitOutcome::Conflict { .. } = outcome {
        anyhow::bail!(
            "other writers kept changing the same costs; nothing was stored, run it again"
        );
    }
    writeln!(
        err,
        "{name}: {} costs stored, {} rows rejected",
        parsed.costs.len(),
        parsed.errors.len()
    )?;
    for e in &parsed.errors {
        match e.last_line {
            last if last > e.line => writeln!(err, "  lines {}–{last}: {}", e.line, e.problem)?,
            _ => writeln!(err, "  line {}: {}", e.line, e.problem)?,
        }
    }
    Ok(parsed.errors.len())
}

/// The store's extent, or a usage error on an empty store.
async fn extent(store: &dyn JourneyStore) -> Result<Extent> {
    store.extent().await?.ok_or_else(|| {
        anyhow::anyhow!(
            "the store holds no transitions yet: import a file first (or run `journey demo`)"
        )
    })
}

async fn print_plan(
    store: &EmbeddedStore,
    args: &PlanArgs,
    now: DateTime<Utc>,
    out: &mut dyn Write,
) -> Result<()> {
    let span = extent(store).await?;
    let measured = period_or(args.from, args.to, &span);
    check_period(&measured)?;
    let req = PlanRequest {
        target_revenue: args.target_revenue,
        start: args.start.unwrap_or_else(|| now.date_naive()),
        months: args.months,
        deal_size: args.deal_size,
        won_revenue: args.won_revenue,
        win_rate: args.win_rate,
        measured,
    };
    let plan = planning::plan(store, store, &req, now)
        .await
        .map_err(|e| match e {
            PlanningError::Query(e) => anyhow::Error::from(e),
            other => UsageError(other.to_string()).into(),
        })?;
    let text = match args.format {
        Format::Json => serde_json::to_string_pretty(&plan)?,
        _ => report::plan_table(&plan),
    };
    print(out, &text)
}

async fn print_roi(
    store: &EmbeddedStore,
    args: &RoiArgs,
    now: DateTime<Utc>,
    out: &mut dyn Write,
) -> Result<()> {
    let span = extent(store).await?;
    let month_of = |d: NaiveDate| d.with_day(1).unwrap_or(d);
    let from = args.from.unwrap_or(month_of(span.first_effective));
    let to = args
        .to
        .unwrap_or(month_of(span.last_effective) + Months::new(1));
    if from >= to {
        return Err(UsageError(format!("--from {from} is not a month before --to {to}")).into());
    }
    let roi = planning::roi(store, store, (from, to), args.maturity_days, now).await?;
    let text = match args.format {
        Format::Json => serde_json::to_string_pretty(&roi)?,
        _ => report::roi_table(&roi),
    };
    print(out, &text)
}

/// `journey rescore`: every lead under the rules in force, with what changed.
async fn rescore(
    store: &EmbeddedStore,
    page_size: usize,
    now: DateTime<Utc>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<i32> {
    let rules = scoring::documents::load_rules(store)
        .await
        .context("failed to read the scoring rules")?;
    let report = scoring::rescore::rescore_all(store, store, store, &rules, now, page_size)
        .await
        .context("the rescore failed")?;
    writeln!(
        out,
        "scoring rules v{}: {} leads, {} rescored, {} already at v{}, {} new MQLs, {} failed",
        rules.version,
        report.leads,
        report.rescored,
        report.unchanged,
        rules.version,
        report.new_mqls,
        report.failed.len()
    )?;
    for (lead, e) in &report.failed {
        writeln!(err, "  lead {lead}: {e}")?;
    }
    Ok(if report.failed.is_empty() { 0 } else { 2 })
}

async fn run_serve(store: EmbeddedStore, args: &ServeArgs) -> Result<()> {
    serve::init_logs();
    let vars = std::env::vars().collect();
    let config = StackConfig::local(&vars, &args.webhook_secret)?;
    if !args.no_seed {
        for doc in seed::seed_demo(&store).await? {
            tracing::info!(document = %doc, "demo configuration stored");
        }
    }
    let stack = Arc::new(Stack::new(store, Arc::new(SystemClock), config));
    let listener = serve::bind(args.port)
        .await
        .with_context(|| format!("failed to listen on 127.0.0.1:{}", args.port))?;
    tracing::info!(address = %listener.local_addr()?, "serving every function");
    serve::run(stack, listener).await
}

fn print_summary(err: &mut dyn Write, name: &str, s: &Summary) -> Result<()> {
    writeln!(
        err,
        "{name}: {} rows: {} leads created, {} updated, {} already imported, {} rejected",
        s.rows,
        s.created,
        s.updated,
        s.unchanged,
        s.errors.len()
    )?;
    for e in &s.errors {
        writeln!(err, "  {e}")?;
    }
    for a in &s.adjusted {
        writeln!(err, "  adjusted: {a}")?;
    }
    Ok(())
}

async fn print_report(
    store: &EmbeddedStore,
    args: &ReportArgs,
    now: DateTime<Utc>,
    out: &mut dyn Write,
) -> Result<()> {
    let span = extent(store).await?;
    let period = period_or(args.from, args.to, &span);
    check_period(&period)?;
    let req = Request {
        period,
        group_by: args.group_by,
        as_of: None,
        prefer: Prefer::Auto,
    };
    let answer = query::funnel(store, store, &req, now).await?;
    print(out, &report::render(&answer, args.format))
}

/// Writes `text`, ending it with one line break.
fn print(out: &mut dyn Write, text: &str) -> Result<()> {
    out.write_all(text.trim_end_matches('\n').as_bytes())?;
    writeln!(out)?;
    Ok(())
}

/// A command line that parsed but asks for something impossible: like clap's own errors, it
/// exits with status 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(String);

/// The exit status for a failed run, and whether to print the error: a usage mistake is 2; a
/// closed stdout (`journey report | head -1`) is the reader having had enough, so 0 and quiet;
/// anything else is 1.
pub fn exit_status(e: &anyhow::Error) -> (i32, bool) {
    let broken_pipe = e.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    });
    if broken_pipe {
        (0, false)
    } else if e.downcast_ref::<UsageError>().is_some() {
        (2, true)
    } else {
        (1, true)
    }
}

fn check_period(period: &Period) -> Result<()> {
    if period.from >= period.to {
        return Err(UsageError(format!(
            "the period is empty: --from {} is not before --to {} (--to is the day after the \
             last day)",
            period.from.date_naive(),
            period.to.date_naive()
        ))
        .into());
    }
    Ok(())
}

/// `from`..`to` (UTC days, `to` excluded), each defaulting to the ends of the stored data: its
/// first effective day, and the day after its last.
fn period_or(from: Option<NaiveDate>, to: Option<NaiveDate>, span: &Extent) -> Period {
    Period {
        from: Extent::midnight(from.unwrap_or(span.first_effective)),
        to: to.map_or(span.effective_end(), Extent::midnight),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_db(name: &str) -> PathBuf {
        let path =
            std::env::temp_dir().join(format!("journey-cli-{}-{name}.db", std::process::id()));
        let _ = std::fs::remove_file(&path);
        path
    }

    async fn run_args(args: &[&str]) -> (Result<i32>, Vec<u8>) {
        let cli = Cli::try_parse_from(args).unwrap();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let result = run(cli, &mut out, &mut err).await;
        (result, out)
    }

    #[tokio::test]
    async fn rescore_scores_every_lead_once_under_the_rules_in_force() {
        let db = temp_db("rescore");
        let db = db.to_str().unwrap();
        let (demo, _) = run_args(&["journey", "--db", db, "demo"]).await;
        assert_eq!(demo.unwrap(), 0);

        let (first, out) = run_args(&["journey", "--db", db, "rescore", "--page-size", "50"]).await;
        let (again, out_again) = run_args(&["journey", "--db", db, "rescore"]).await;

        assert_eq!(first.unwrap(), 0);
        let out = String::from_utf8(out).unwrap();
        assert!(
            out.starts_with("scoring rules v1: 238 leads, 238 rescored"),
            "{out}"
        );
        assert_eq!(again.unwrap(), 0);
        let out_again = String::from_utf8(out_again).unwrap();
        assert!(
            out_again.contains("0 rescored, 238 already at v1"),
            "{out_again}"
        );
    }

    /// Regression: a mistyped `--db` made an empty store and printed an empty report.
    #[tokio::test]
    async fn a_report_on_a_store_that_does_not_exist_is_refused_and_creates_nothing() {
        let db = temp_db("missing");
        let name = db.to_str().unwrap();

        let (result, out) = run_args(&["journey", "--db", name, "report"]).await;

        let err = result.unwrap_err().to_string();
        assert!(err.contains("no store at"), "{err}");
        assert!(out.is_empty());
        assert!(!db.exists(), "no file was made");
    }

    #[tokio::test]
    async fn a_report_period_ending_before_it_starts_is_a_usage_error_with_status_2() {
        let db = temp_db("period");
        let db = db.to_str().unwrap();
        let (demo, _) = run_args(&["journey", "--db", db, "demo"]).await;
        assert_eq!(demo.unwrap(), 0);

        let (result, out) = run_args(&[
            "journey",
            "--db",
            db,
            "report",
            "--from",
            "2025-03-05",
            "--to",
            "2025-03-02",
        ])
        .await;

        let e = result.unwrap_err();
        assert_eq!(exit_status(&e), (2, true));
        assert!(e.to_string().contains("2025-03-05"), "{e}");
        assert!(out.is_empty(), "no report is printed");
        let _ = std::fs::remove_file(db);
    }

    /// A writer whose reader has gone, as stdout is under `| head -1`.
    struct ClosedPipe;

    impl Write for ClosedPipe {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::ErrorKind::BrokenPipe.into())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_closed_stdout_ends_the_report_quietly_with_status_0() {
        let db = temp_db("pipe");
        let db = db.to_str().unwrap();
        let cli = Cli::try_parse_from(["journey", "--db", db, "demo"]).unwrap();

        let e = run(cli, &mut ClosedPipe, &mut Vec::new())
            .await
            .unwrap_err();

        assert_eq!(exit_status(&e), (0, false));
        let _ = std::fs::remove_file(db);
    }

    #[test]
    fn other_failures_exit_with_status_1() {
        assert_eq!(exit_status(&anyhow::anyhow!("the store failed")), (1, true));
    }
}
