//! The `fleetc` command line: parse flags, call the library, map results to exit codes
//! (0 success, 1 differences, 2 invalid input or refused operation, 3 other failure).
#![forbid(unsafe_code)]

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// mimalloc instead of glibc's malloc: rendering is millions of small
/// allocations on every core, and glibc's arena locks cost a fifth of a
/// large diff (BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use fleetc::diag::Diags;
use fleetc::emit::write::{self, Difference, WriteError};
use fleetc::git::{Failure, Git};
use fleetc::load::model::Format;
use fleetc::{compile, source, validate, Options};

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
    /// Treat warnings as errors (exit 2).
    #[arg(long, global = true)]
    deny_warnings: bool,
    /// Largest input file read, in bytes (same as `--limit file-bytes=BYTES`).
    #[arg(long, global = true, value_name = "BYTES", default_value_t = 16 << 20)]
    max_file_size: u64,
    /// Set a budget (repeatable): file-bytes, total-bytes, yaml-depth,
    /// yaml-nodes, yaml-aliases, yaml-documents, template-fuel,
    /// template-recursion, template-output-bytes, cluster-units.
    #[arg(long = "limit", global = true, value_name = "NAME=N")]
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

#[derive(Clone, Copy, ValueEnum)]
enum DiffFormat {
    Text,
    Markdown,
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
enum ReportFormat {
    Text,
    Markdown,
    Json,
    Html,
}

#[derive(Clone, Copy, ValueEnum)]
enum FormatArg {
    Flux,
    Argocd,
    Plain,
}

impl From<FormatArg> for Format {
    fn from(f: FormatArg) -> Format {
        match f {
            FormatArg::Flux => Format::Flux,
            FormatArg::Argocd => Format::ArgoCd,
            FormatArg::Plain => Format::Plain,
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Check the fleet repository: schemas, references, layering and a full in-memory render.
    Validate {
        /// The fleet repository (default: the current directory).
        #[arg(default_value = ".")]
        repo: PathBuf,
        /// Read the fleet from this git revision instead of the work tree.
        #[arg(long, value_name = "REV")]
        rev: Option<String>,
    },
    /// Render the per-cluster tree into OUT (atomically), or compare with it (--check).
    Render {
        #[arg(default_value = ".")]
        repo: PathBuf,
        /// Read the fleet from this git revision instead of the work tree.
        #[arg(long, value_name = "REV")]
        rev: Option<String>,
        /// Output directory (created by fleetc; an existing one must carry fleetc's marker).
        #[arg(short, long, value_name = "OUT")]
        output: PathBuf,
        /// Output format, overriding `Fleet.spec.output.format`.
        #[arg(long, value_enum)]
        format: Option<FormatArg>,
        /// Render only this cluster (repeatable).
        #[arg(long = "cluster", value_name = "C")]
        clusters: Vec<String>,
        /// Render in memory and compare with OUT: exit 1 and list the differing paths.
        #[arg(long)]
        check: bool,
        /// Worker threads (default: one per core).
        #[arg(long, value_name = "N")]
        jobs: Option<usize>,
    },
    /// Explain one cluster: its groups and why, every placement and policy, and where each value came from.
    Explain {
        /// `[REPO] CLUSTER`: the repository (default `.`) and the cluster.
        #[arg(num_args = 1..=2, required = true, value_name = "[REPO] CLUSTER")]
        args: Vec<String>,
        /// Only this component or policy.
        #[arg(long, value_name = "NAME")]
        component: Option<String>,
        /// Only this value path (e.g. `replicas` with --component, `values.web.replicas`, `vars.domain`).
        #[arg(long, value_name = "PATH")]
        value: Option<String>,
        /// Read the fleet from this git revision instead of the work tree.
        #[arg(long, value_name = "REV")]
        rev: Option<String>,
    },
    /// Compare the rendered fleet of two revisions, resource by resource per cluster.
    Diff {
        #[arg(default_value = ".")]
        repo: PathBuf,
        /// The revision to compare against (e.g. origin/main).
        #[arg(long, value_name = "REV")]
        base: String,
        /// The revision to compare (default: the work tree).
        #[arg(long, value_name = "REV")]
        head: Option<String>,
        /// Output: text (a terminal or CI log), markdown (a PR comment) or json.
        #[arg(long, value_enum, default_value_t = DiffFormat::Text)]
        format: DiffFormat,
        /// Largest markdown output, in bytes (GitHub's comment limit is 65536 characters).
        #[arg(long, value_name = "N", default_value_t = 65000, value_parser = clap::value_parser!(u64).range(2000..))]
        max_bytes: u64,
    },
    /// Commit the rendered tree of a revision onto a branch (no checkout, no push).
    Publish {
        #[arg(default_value = ".")]
        repo: PathBuf,
        /// The source revision (default: HEAD).
        #[arg(long, value_name = "REV", default_value = "HEAD")]
        rev: String,
        /// The branch to commit onto (created when missing).
        #[arg(long, value_name = "B")]
        branch: String,
        /// Commit subject (default: "Render <source>").
        #[arg(long, value_name = "M")]
        message: Option<String>,
        /// Publish even when the branch was rendered from a newer source.
        #[arg(long)]
        force: bool,
    },
    /// The fleet review: inventory, Kubernetes and component version skew, rollouts, policy posture, exemptions.
    Report {
        #[arg(default_value = ".")]
        repo: PathBuf,
        /// Read the fleet from this git revision instead of the work tree.
        #[arg(long, value_name = "REV")]
        rev: Option<String>,
        /// text (a terminal), markdown (a review or PR comment), json (fleet-schema/report.schema.json) or html (one self-contained page).
        #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
        format: ReportFormat,
    },
    /// Advance a rollout by one wave: edits `promotedThrough` in the placement file (one line).
    Promote {
        /// The fleet repository (default: the current directory).
        #[arg(default_value = ".", value_name = "REPO")]
        repo_or_placement: PathBuf,
        /// The placement whose rollout moves on.
        placement: Option<String>,
    },
    /// Print the JSON Schema of a fleet kind (or list the kinds).
    Schema {
        /// Fleet, Cluster, ClusterGroup, Component, Policy, Placement, Inventory or FleetReport.
        kind: Option<String>,
    },
}

fn parse_date(s: &str) -> Result<String, String> {
    if fleetc::resolve::policy::valid_date(s) {
        Ok(s.to_string())
    } else {
        Err(format!("`{s}` is not a date in the form YYYY-MM-DD"))
    }
}

struct Ui {
    color: bool,
    /// Colour for results on stdout (diff text).
    color_stdout: bool,
    deny_warnings: bool,
}

impl Ui {
    /// Print diagnostics; returns true when they fail the run.
    fn report(&self, diags: &Diags) -> bool {
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(diags.render(self.color).as_bytes());
        let errors = diags.error_count();
        let warnings = diags.warning_count();
        let failed = errors > 0 || (self.deny_warnings && warnings > 0);
        if failed {
            let mut parts = Vec::new();
            if errors > 0 {
                parts.push(format!(
                    "{errors} error{}",
                    if errors == 1 { "" } else { "s" }
                ));
            }
            if warnings > 0 {
                parts.push(format!(
                    "{warnings} warning{}",
                    if warnings == 1 { "" } else { "s" }
                ));
            }
            let why = if errors == 0 {
                " (--deny-warnings)"
            } else {
                ""
            };
            let _ = writeln!(err, "error: aborting due to {}{why}", parts.join(" and "));
        }
        failed
    }
}

/// A fleet read from the work tree or from a git revision.
struct Loaded {
    fs: source::FileSet,
    /// The commit it was read from (full hex), for inventory.json.
    commit: Option<String>,
}

/// Read the fleet at `repo`, from `rev` when given; on failure, print the
/// diagnostics and return the exit code to use.
fn load(
    ui: &Ui,
    repo: &Path,
    rev: Option<&str>,
    input: &source::Limits,
) -> Result<Loaded, ExitCode> {
    match rev {
        None => match source::read_dir(repo, input) {
            Ok(fs) => Ok(Loaded { fs, commit: None }),
            Err(d) => {
                ui.report(&d);
                Err(ExitCode::from(2))
            }
        },
        Some(rev) => {
            let read = Git::open(repo).and_then(|g| g.read_rev(rev, input));
            match read {
                Ok((fs, id)) => Ok(Loaded {
                    fs,
                    commit: Some(id.to_hex().to_string()),
                }),
                Err(f) => Err(git_failure(ui, &f)),
            }
        }
    }
}

/// The budgets every command runs under, from the defaults and `--limit`.
struct Budgets {
    input: source::Limits,
    cluster_units: usize,
    yaml: fleetc::load::yaml::Budget,
    template: fleetc::render::template::TemplateLimits,
}

/// Apply `--limit NAME=N` settings (in order; the last one of a name wins).
fn budgets(file_bytes: u64, settings: &[String]) -> Result<Budgets, String> {
    let mut b = Budgets {
        input: source::Limits {
            max_file_bytes: file_bytes,
            ..Default::default()
        },
        cluster_units: Options::MAX_CLUSTER_UNITS,
        yaml: Default::default(),
        template: Default::default(),
    };
    const NAMES: &str = "file-bytes, total-bytes, yaml-depth, yaml-nodes, yaml-aliases, yaml-documents, template-fuel, template-recursion, template-output-bytes, cluster-units";
    for s in settings {
        let Some((name, value)) = s.split_once('=') else {
            return Err(format!("--limit {s}: expected NAME=N (names: {NAMES})"));
        };
        let n: u64 = value
            .trim()
            .replace('_', "")
            .parse()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| format!("--limit {s}: `{value}` is not a whole number above 0"))?;
        let size = usize::try_from(n).unwrap_or(usize::MAX);
        match name.trim() {
            "file-bytes" => b.input.max_file_bytes = n,
            "total-bytes" => b.input.max_total_bytes = n,
            "yaml-depth" => b.yaml.max_depth = size,
            "yaml-nodes" => b.yaml.max_nodes = size,
            "yaml-aliases" => b.yaml.max_aliases = size,
            "yaml-documents" => b.yaml.max_documents = size,
            "cluster-units" => b.cluster_units = size,
            "template-fuel" => b.template.fuel = n,
            "template-recursion" => b.template.recursion = size,
            "template-output-bytes" => b.template.max_output_bytes = size,
            other => {
                let names: Vec<String> = NAMES.split(", ").map(String::from).collect();
                let hint = validate::schema::did_you_mean(other, &names)
                    .map(|n| format!("; did you mean `{n}`?"))
                    .unwrap_or_default();
                return Err(format!(
                    "--limit {s}: unknown budget `{other}`{hint} (names: {NAMES})"
                ));
            }
        }
    }
    Ok(b)
}

fn git_failure(ui: &Ui, f: &Failure) -> ExitCode {
    ui.report(f.diags());
    ExitCode::from(f.exit_code())
}

/// Read and compile a repository; on any error, print the diagnostics and
/// return the exit code to use.
///
/// The result lives until the process exits: a large fleet is millions of
/// small allocations, and freeing them one by one just before exiting costs
/// time nobody waits for (half a second at 1,000 clusters).
fn compile_repo(
    ui: &Ui,
    repo: &Path,
    rev: Option<&str>,
    input: &source::Limits,
    opts: Options,
) -> Result<&'static fleetc::Compiled, ExitCode> {
    let loaded = load(ui, repo, rev, input)?;
    let (compiled, diags) = compile(
        &loaded.fs,
        &Options {
            source_rev: loaded.commit,
            ..opts
        },
    );
    if ui.report(&diags) {
        return Err(ExitCode::from(2));
    }
    compiled
        .map(|c| &*Box::leak(Box::new(c)))
        .ok_or(ExitCode::from(2))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let color = match cli.color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
        }
    };
    let color_stdout = match cli.color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
        }
    };
    let ui = Ui {
        color,
        color_stdout,
        deny_warnings: cli.deny_warnings,
    };
    let today = match fleetc::resolve::policy::today_here(cli.today.as_deref()) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    fleetc::render::template::install_panic_hook();
    let budgets = match budgets(cli.max_file_size, &cli.limit) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let input = &budgets.input;
    let opts = || Options {
        today: today.clone(),
        budget: budgets.yaml.clone(),
        template_limits: budgets.template.clone(),
        max_cluster_units: budgets.cluster_units,
        ..Default::default()
    };
    match cli.command {
        Command::Schema { kind } => schema(kind.as_deref()),
        Command::Report { repo, rev, format } => {
            report(&ui, &repo, rev.as_deref(), format, input, opts())
        }
        Command::Diff {
            repo,
            base,
            head,
            format,
            max_bytes,
        } => diff(
            &ui,
            &repo,
            &base,
            head.as_deref(),
            format,
            max_bytes,
            input,
            opts(),
        ),
        Command::Publish {
            repo,
            rev,
            branch,
            message,
            force,
        } => publish(
            &ui,
            &repo,
            &rev,
            &branch,
            message.as_deref(),
            force,
            input,
            opts(),
        ),
        Command::Explain {
            args,
            component,
            value,
            rev,
        } => {
            let (repo, cluster) = match args.as_slice() {
                [c] => (PathBuf::from("."), c.clone()),
                [r, c] => (PathBuf::from(r), c.clone()),
                _ => unreachable!("clap enforces 1..=2"),
            };
            let c = match compile_repo(&ui, &repo, rev.as_deref(), input, opts()) {
                Ok(c) => c,
                Err(code) => return code,
            };
            match fleetc::explain::explain(c, &cluster, component.as_deref(), value.as_deref()) {
                Ok(text) => {
                    print!("{text}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::from(2)
                }
            }
        }
        Command::Promote {
            repo_or_placement,
            placement,
        } => {
            // `fleetc promote PLACEMENT` or `fleetc promote REPO PLACEMENT`.
            let (repo, name) = match placement {
                Some(p) => (repo_or_placement, p),
                None => (
                    PathBuf::from("."),
                    repo_or_placement.to_string_lossy().into_owned(),
                ),
            };
            match fleetc::promote::promote(&repo, &name) {
                Ok(p) => {
                    println!(
                        "{}:{}: promotedThrough: {} → {}",
                        p.file,
                        p.line,
                        p.from.as_deref().unwrap_or("(none)"),
                        p.to
                    );
                    ExitCode::SUCCESS
                }
                Err(fleetc::promote::PromoteError::Invalid(d)) => {
                    ui.report(&d);
                    ExitCode::from(2)
                }
                Err(fleetc::promote::PromoteError::Refused(m)) => {
                    eprintln!("error: {m}");
                    ExitCode::from(2)
                }
                Err(fleetc::promote::PromoteError::Io(m)) => {
                    eprintln!("error: {m}");
                    ExitCode::from(3)
                }
            }
        }
        Command::Validate { repo, rev } => {
            // Every cluster is rendered and checked, a batch at a time; nothing is serialised.
            let opts = Options {
                tree: false,
                ..opts()
            };
            let (fs, planned, opts) = match plan_repo(&ui, &repo, rev.as_deref(), input, opts) {
                Ok(x) => x,
                Err(code) => return code,
            };
            let c = match stream_repo(&ui, fs, planned, &opts, &write::Discard) {
                Ok(c) => c,
                Err(code) => return code,
            };
            let policies = c.repo.units.iter().filter(|u| u.policy.is_some()).count();
            println!(
                "fleet `{}` is valid: {} clusters, {} groups, {} components, {} policies, {} placements",
                c.repo.fleet.as_ref().map(|f| f.name.as_str()).unwrap_or_default(),
                c.repo.clusters.len(),
                c.repo.groups.len(),
                c.repo.units.len() - policies,
                policies,
                c.repo.placements.len()
            );
            ExitCode::SUCCESS
        }
        Command::Render {
            repo,
            rev,
            output,
            format,
            clusters,
            check,
            jobs,
        } => {
            if let Some(n) = jobs {
                if n == 0 {
                    eprintln!("error: --jobs must be at least 1");
                    return ExitCode::from(2);
                }
                if let Err(e) = rayon::ThreadPoolBuilder::new()
                    .num_threads(n)
                    .build_global()
                {
                    eprintln!("error: cannot start {n} worker threads: {e}");
                    return ExitCode::from(3);
                }
            }
            if let Some(code) = refuse_output(&repo, &output) {
                return code;
            }
            // A tree whose recorded inputs equal this compile's is not rendered
            // again (`--check` always renders and compares every byte).
            let reuse = if check {
                None
            } else {
                write::recorded_digest(&output)
            };
            let opts = Options {
                format: format.map(Format::from),
                clusters,
                ..opts()
            };
            render(
                &ui,
                &repo,
                rev.as_deref(),
                &output,
                check,
                reuse,
                input,
                opts,
            )
        }
    }
}

/// Read and plan a repository (see [`fleetc::plan`]); on errors, print them
/// and return the exit code.
fn plan_repo(
    ui: &Ui,
    repo: &Path,
    rev: Option<&str>,
    input: &source::Limits,
    opts: Options,
) -> Result<(&'static source::FileSet, fleetc::Planned, Options), ExitCode> {
    let loaded = load(ui, repo, rev, input)?;
    let opts = Options {
        source_rev: loaded.commit,
        ..opts
    };
    // Kept until exit, like compile_repo's result.
    let fs: &'static source::FileSet = Box::leak(Box::new(loaded.fs));
    match fleetc::plan(fs, &opts) {
        Ok(p) => Ok((fs, p, opts)),
        Err(d) => {
            ui.report(&d);
            Err(ExitCode::from(2))
        }
    }
}

/// Stream a planned fleet into `sink`; print the diagnostics. `Err` is the
/// exit code (the sink's content is then to be thrown away).
fn stream_repo(
    ui: &Ui,
    fs: &source::FileSet,
    planned: fleetc::Planned,
    opts: &Options,
    sink: &dyn write::Sink,
) -> Result<&'static fleetc::Streamed, ExitCode> {
    let (streamed, diags) = match fleetc::stream(fs, planned, opts, sink) {
        Ok(x) => x,
        Err(e) => return Err(write_error(&e)),
    };
    if ui.report(&diags) {
        std::mem::forget(streamed);
        return Err(ExitCode::from(2));
    }
    // Kept until exit: freeing a large fleet just before exiting costs time nobody waits for.
    Ok(Box::leak(Box::new(streamed)))
}

/// `fleetc render`: stream the fleet into a staging directory swapped in at
/// the end, or (`--check`) compare it file by file with `output`.
#[allow(clippy::too_many_arguments)]
fn render(
    ui: &Ui,
    repo: &Path,
    rev: Option<&str>,
    output: &Path,
    check: bool,
    reuse: Option<String>,
    input: &source::Limits,
    opts: Options,
) -> ExitCode {
    let (fs, planned, opts) = match plan_repo(ui, repo, rev, input, opts) {
        Ok(x) => x,
        Err(code) => return code,
    };
    if reuse.as_deref() == Some(planned.inputs_digest.as_str()) && !planned.diags.has_errors() {
        if ui.report(&planned.diags) {
            return ExitCode::from(2);
        }
        println!("{} is up to date", output.display());
        return ExitCode::SUCCESS;
    }
    if check {
        let checker = match write::Checker::new(output) {
            Ok(c) => c,
            Err(e) => return write_error(&e),
        };
        if let Err(code) = stream_repo(ui, fs, planned, &opts, &checker) {
            return code;
        }
        return match checker.finish() {
            Ok(diffs) if diffs.is_empty() => {
                println!("{} is up to date", output.display());
                ExitCode::SUCCESS
            }
            Ok(diffs) => {
                let mut out = std::io::stdout().lock();
                for d in &diffs {
                    let (what, p) = match d {
                        Difference::Changed(p) => ("changed", p),
                        Difference::Missing(p) => ("missing", p),
                        Difference::Extra(p) => ("extra", p),
                    };
                    let _ = writeln!(out, "{what} {}", output.join(p).display());
                }
                eprintln!(
                    "error: {} is stale ({} paths differ); run `fleetc render -o {}`",
                    output.display(),
                    diffs.len(),
                    output.display()
                );
                ExitCode::from(1)
            }
            Err(e) => write_error(&e),
        };
    }
    let staging = match write::Staging::new(output) {
        Ok(s) => s,
        Err(e) => return write_error(&e),
    };
    let s = match stream_repo(ui, fs, planned, &opts, &staging) {
        Ok(s) => s,
        Err(code) => return code,
    };
    match staging.commit() {
        Ok(files) => {
            println!(
                "rendered {} clusters, {} resources ({files} files) into {}",
                s.clusters,
                s.resources,
                output.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => write_error(&e),
    }
}

/// `fleetc report`: validate (every cluster rendered, nothing kept), then
/// describe the fleet. The report is informative: what validate found is
/// listed in it and the exit code is 0; only a fleet that cannot be loaded
/// and resolved at all (exit 2) has no report.
fn report(
    ui: &Ui,
    repo: &Path,
    rev: Option<&str>,
    format: ReportFormat,
    input: &source::Limits,
    opts: Options,
) -> ExitCode {
    let opts = Options {
        tree: false,
        ..opts
    };
    let (fs, planned, opts) = match plan_repo(ui, repo, rev, input, opts) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let (s, diags) = match fleetc::stream(fs, planned, &opts, &write::Discard) {
        Ok(x) => x,
        Err(e) => return write_error(&e),
    };
    let r = fleetc::report::build(
        &s.repo,
        &s.resolved,
        &opts.today,
        opts.source_rev.as_deref(),
        &diags,
    );
    let out = match format {
        ReportFormat::Text => fleetc::report::text::text(&r),
        ReportFormat::Markdown => fleetc::report::text::markdown(&r),
        ReportFormat::Json => r.to_json(),
        ReportFormat::Html => fleetc::report::html::html(&r),
    };
    std::mem::forget(s);
    if let Err(e) = std::io::stdout().lock().write_all(out.as_bytes()) {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            eprintln!("error: cannot write the report: {e}");
            return ExitCode::from(3);
        }
    }
    let (errors, warnings) = (diags.error_count(), diags.warning_count());
    if errors + warnings > 0 {
        eprintln!(
            "note: the report lists {errors} error{} and {warnings} warning{} found by validate; `fleetc validate` shows each with its source",
            if errors == 1 { "" } else { "s" },
            if warnings == 1 { "" } else { "s" }
        );
    }
    ExitCode::SUCCESS
}

/// One side of a diff, read and planned; a side that cannot be read is exit
/// 2 (a bad revision) or 3.
struct Side {
    fs: source::FileSet,
    label: String,
    opts: Options,
    planned: Result<fleetc::Planned, fleetc::diag::Diags>,
}

fn diff_side(
    ui: &Ui,
    git: &Git,
    repo: &Path,
    rev: Option<&str>,
    input: &source::Limits,
    opts: &Options,
) -> Result<Side, ExitCode> {
    let (fs, label, commit) = match rev {
        Some(r) => {
            let read = git.read_rev(r, input);
            match read {
                Ok((fs, id)) => (
                    fs,
                    format!("{r} ({})", fleetc::git::short(id)),
                    Some(id.to_hex().to_string()),
                ),
                Err(f) => return Err(git_failure(ui, &f)),
            }
        }
        None => match source::read_dir(repo, input) {
            Ok(fs) => (fs, "the work tree".to_string(), None),
            Err(d) => {
                eprintln!("error: the work tree cannot be read:");
                ui.report(&d);
                return Err(ExitCode::from(3));
            }
        },
    };
    let opts = Options {
        source_rev: commit,
        inventory: false,
        ..opts.clone()
    };
    let planned = fleetc::plan(&fs, &opts);
    Ok(Side {
        fs,
        label,
        opts,
        planned,
    })
}

/// Changed clusters rendered and compared at a time by `diff`.
const DIFF_BATCH: usize = 256;

#[allow(clippy::too_many_arguments)]
fn diff(
    ui: &Ui,
    repo: &Path,
    base: &str,
    head: Option<&str>,
    format: DiffFormat,
    max_bytes: u64,
    input: &source::Limits,
    opts: Options,
) -> ExitCode {
    let git = match Git::open(repo) {
        Ok(g) => g,
        Err(f) => return git_failure(ui, &f),
    };
    let b = match diff_side(ui, &git, repo, Some(base), input, &opts) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let h = match diff_side(ui, &git, repo, head, input, &opts) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let (pb, ph) = match (&b.planned, &h.planned) {
        (Ok(pb), Ok(ph)) => (pb, ph),
        (Err(d), _) | (_, Err(d)) => {
            let label = if b.planned.is_err() {
                &b.label
            } else {
                &h.label
            };
            eprintln!(
                "error: {label} does not render, so there is nothing to compare; its errors:"
            );
            ui.report(d);
            return ExitCode::from(3);
        }
    };
    fn side<'s>(s: &'s Side, planned: &'s fleetc::Planned) -> fleetc::DiffSide<'s> {
        fleetc::DiffSide {
            fs: &s.fs,
            planned,
            opts: &s.opts,
            label: &s.label,
        }
    }
    let report = match fleetc::diff_planned(side(&b, pb), side(&h, ph), DIFF_BATCH) {
        Ok(r) => r,
        Err((label, diags)) => {
            eprintln!(
                "error: {label} does not render, so there is nothing to compare; its errors:"
            );
            ui.report(&diags);
            return ExitCode::from(3);
        }
    };
    let text = match format {
        DiffFormat::Text => fleetc::diff::format::text(&report, ui.color_stdout),
        DiffFormat::Markdown => fleetc::diff::format::markdown(
            &report,
            usize::try_from(max_bytes).unwrap_or(usize::MAX),
        ),
        DiffFormat::Json => {
            let mut s = serde_json::to_string_pretty(&fleetc::diff::format::json(&report))
                .unwrap_or_default();
            s.push('\n');
            s
        }
    };
    let mut out = std::io::stdout().lock();
    if out
        .write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .is_err()
    {
        return ExitCode::from(3);
    }
    if report.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

#[allow(clippy::too_many_arguments)]
fn publish(
    ui: &Ui,
    repo: &Path,
    rev: &str,
    branch: &str,
    message: Option<&str>,
    force: bool,
    input: &source::Limits,
    opts: Options,
) -> ExitCode {
    let opened = Git::open(repo).and_then(|g| {
        let id = g.commit_id(rev)?;
        Ok((g, id))
    });
    let (git, source) = match opened {
        Ok(x) => x,
        Err(f) => return git_failure(ui, &f),
    };
    let c = match compile_repo(ui, repo, Some(rev), input, opts) {
        Ok(c) => c,
        Err(code) => return code,
    };
    match fleetc::git::publish::publish(&git, source, branch, &c.tree, message, force) {
        Ok(fleetc::git::publish::Outcome::Committed { commit, .. }) => {
            println!(
                "published {} onto {branch} (rendered from {})",
                fleetc::git::short(commit),
                fleetc::git::short(source)
            );
            ExitCode::SUCCESS
        }
        Ok(fleetc::git::publish::Outcome::Unchanged { tip }) => {
            println!(
                "{branch} is up to date at {} (rendered from {})",
                fleetc::git::short(tip),
                fleetc::git::short(source)
            );
            ExitCode::SUCCESS
        }
        Err(f) => git_failure(ui, &f),
    }
}

fn write_error(e: &WriteError) -> ExitCode {
    eprintln!("error: {e}");
    match e {
        WriteError::Refused(_) => {
            eprintln!("help: choose a new directory for -o, or one fleetc rendered before");
            ExitCode::from(2)
        }
        WriteError::Io(_) => ExitCode::from(3),
    }
}

/// `-o` may not be the repository, one of its ancestors, or the file-system root.
fn refuse_output(repo: &Path, out: &Path) -> Option<ExitCode> {
    let abs = |p: &Path| std::path::absolute(p).ok().map(|p| normalize(&p));
    let (Some(r), Some(o)) = (abs(repo), abs(out)) else {
        return None;
    };
    let r = r.canonicalize().unwrap_or(r);
    if o.parent().is_none() || r.starts_with(&o) {
        eprintln!(
            "error: refusing to write to {}: it is the repository or contains it",
            out.display()
        );
        eprintln!("help: render into a directory of its own, e.g. -o out/");
        return Some(ExitCode::from(2));
    }
    None
}

fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            c => out.push(c),
        }
    }
    out
}

fn schema(kind: Option<&str>) -> ExitCode {
    match kind {
        None => {
            for k in validate::schema::kinds() {
                println!("{k}");
            }
            ExitCode::SUCCESS
        }
        Some(k) => match validate::schema::bundled(k) {
            Some(s) => {
                println!("{}", serde_json::to_string_pretty(&s).unwrap_or_default());
                ExitCode::SUCCESS
            }
            None => {
                let kinds: Vec<&str> = validate::schema::kinds().collect();
                eprintln!("error: unknown kind `{k}`");
                eprintln!("help: one of {}", kinds.join(", "));
                ExitCode::from(2)
            }
        },
    }
}
