//! The `fleetc` command line: one file per command, each with its `Args`
//! and a `run` returning `Result<Exit, Failure>`; [`exit::code`] maps that
//! to the exit code in one place, and [`ui::Ui`] prints every diagnostic.
#![forbid(unsafe_code)]

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// mimalloc instead of glibc's malloc: rendering is millions of small
/// allocations on every core, and glibc's arena locks cost a fifth of a
/// large diff (BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod diff;
mod exit;
mod explain;
mod import;
mod init;
mod input;
mod limits;
mod promote;
mod publish;
mod render;
mod report;
mod schema;
mod ui;
mod validate;

use exit::{Exit, Failure};
use fleetc::driver::Options;
use ui::{OutputFormat, Ui};

#[derive(Parser)]
#[command(
    name = "fleetc",
    version,
    about = "A GitOps compiler for Kubernetes fleets"
)]
struct Cli {
    /// The date exemptions are checked against (YYYY-MM-DD; default: SOURCE_DATE_EPOCH, else the clock).
    #[arg(long, global = true, value_name = "YYYY-MM-DD", value_parser = parse_date)]
    today: Option<String>,
    /// Colour diagnostics.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    color: ColorChoice,
    /// How diagnostics are written: human (stderr), or one json, sarif or github document on stdout.
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Human)]
    output_format: OutputFormat,
    /// Treat warnings as errors (exit 2).
    #[arg(long, global = true)]
    deny_warnings: bool,
    /// Print no summary line and no progress (diagnostics and results still print).
    #[arg(short, long, global = true)]
    quiet: bool,
    /// Largest input file read, in bytes (same as `--limit file-bytes=BYTES`).
    #[arg(long, global = true, value_name = "BYTES", default_value_t = 16 << 20)]
    max_file_size: u64,
    #[arg(long = "limit", global = true, value_name = "NAME=N", help = limits::help(), long_help = limits::long_help())]
    limit: Vec<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Subcommand)]
enum Command {
    /// Check the fleet repository: schemas, references, layering and a full in-memory render.
    Validate(validate::Args),
    /// Render the per-cluster tree into OUT (or update the tree there), compare with it (--check), or merge shards (--from).
    Render(render::Args),
    /// Explain one cluster: its groups and why, every placement and policy, and where each value came from.
    Explain(explain::Args),
    /// Compare the rendered fleet of two revisions, resource by resource per cluster.
    Diff(diff::Args),
    /// Commit the rendered tree of a revision onto a branch (no checkout, no push).
    Publish(publish::Args),
    /// The fleet review: inventory, Kubernetes and component version skew, rollouts, policy posture, exemptions.
    Report(report::Args),
    /// Advance a rollout by one wave: edits `promotedThrough` in the placement file (one line).
    Promote(promote::Args),
    /// Print the JSON Schema of a fleet kind (or list the kinds).
    Schema(schema::Args),
    /// Start a new fleet in DIR: a minimal fleet that validates and renders, with editor schemas, pre-commit and CI.
    Init(init::Args),
    /// Import an existing layout as a new fleet: `import kustomize OVERLAY... -o FLEET`.
    Import(import::Args),
}

fn parse_date(s: &str) -> Result<String, String> {
    if fleetc::date::valid_date(s) {
        Ok(s.to_string())
    } else {
        Err(format!("`{s}` is not a date in the form YYYY-MM-DD"))
    }
}

/// What every command runs with.
pub struct Ctx {
    pub ui: Ui,
    pub budgets: limits::Budgets,
    /// "Today" as YYYY-MM-DD.
    pub today: String,
}

impl Ctx {
    /// The compile options of the global flags.
    pub fn options(&self) -> Options {
        Options {
            today: self.today.clone(),
            budget: self.budgets.yaml.clone(),
            template_limits: self.budgets.template.clone(),
            max_cluster_units: self.budgets.cluster_units,
            admission_cost: self.budgets.admission_cost,
            admission_results: false,
            progress: self.ui.progress(),
            ..Options::new(self.today.clone())
        }
    }
}

#[allow(clippy::disallowed_methods)] // NO_COLOR: the CLI reads the environment
fn colour(choice: ColorChoice, terminal: bool) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => terminal && std::env::var_os("NO_COLOR").is_none(),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let ui = Ui::new(
        colour(cli.color, std::io::stderr().is_terminal()),
        colour(cli.color, std::io::stdout().is_terminal()),
        cli.deny_warnings,
        cli.output_format,
    )
    .with(cli.quiet, std::io::stderr().is_terminal());
    fleetc::render::template::install_panic_hook();
    let result = setup(ui, &cli).map(|ctx| {
        let r = run(&ctx, cli.command);
        (ctx, r)
    });
    let (ui, result) = match result {
        Ok((ctx, r)) => (ctx.ui, r),
        Err((ui, f)) => (ui, Err(f)),
    };
    if let Err(f) = &result {
        if !f.diags.items.is_empty() {
            ui.report(&f.diags);
        }
    }
    ui.finish();
    exit::code(&result)
}

/// The context of the global flags; a bad flag fails with the Ui back.
fn setup(ui: Ui, cli: &Cli) -> Result<Ctx, (Ui, Failure)> {
    let today = match today_here(cli.today.as_deref()) {
        Ok(t) => t,
        Err(e) => return Err((ui, Failure::usage(e))),
    };
    let budgets = match limits::budgets(cli.max_file_size, &cli.limit) {
        Ok(b) => b,
        Err(e) => return Err((ui, Failure::usage(e))),
    };
    Ok(Ctx { ui, budgets, today })
}

fn run(ctx: &Ctx, command: Command) -> Result<Exit, Failure> {
    match command {
        Command::Validate(a) => validate::run(ctx, a),
        Command::Render(a) => render::run(ctx, a),
        Command::Explain(a) => explain::run(ctx, a),
        Command::Diff(a) => diff::run(ctx, a),
        Command::Publish(a) => publish::run(ctx, a),
        Command::Report(a) => report::run(ctx, a),
        Command::Promote(a) => promote::run(ctx, a),
        Command::Schema(a) => schema::run(a),
        Command::Init(a) => init::run(ctx, a),
        Command::Import(a) => import::run(ctx, a),
    }
}

/// "Today": `--today` if given, else `SOURCE_DATE_EPOCH` as a UTC date, else
/// the clock. The only place fleetc reads the clock or the environment for
/// its output.
#[allow(clippy::disallowed_methods)]
fn today_here(flag: Option<&str>) -> Result<String, String> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    fleetc::date::today(
        flag,
        std::env::var("SOURCE_DATE_EPOCH").ok().as_deref(),
        now,
    )
}
