//! The `fleetc` command line: parse flags, call the library, map results to exit codes
//! (0 success, 1 differences, 2 invalid input or refused operation, 3 other failure).
#![forbid(unsafe_code)]

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use fleetc::diag::Diags;
use fleetc::emit::write::{self, Difference, Outcome, WriteError};
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
    /// Largest input file read, in bytes.
    #[arg(long, global = true, value_name = "BYTES", default_value_t = 16 << 20)]
    max_file_size: u64,
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
    },
    /// Render the per-cluster tree into OUT (atomically), or compare with it (--check).
    Render {
        #[arg(default_value = ".")]
        repo: PathBuf,
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
        /// Fleet, Cluster, ClusterGroup, Component, Policy, Placement or Inventory.
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

/// Read and compile a repository with default options; on any error, print the
/// diagnostics and return the exit code to use.
fn compile_repo(
    ui: &Ui,
    repo: &Path,
    max_file_size: u64,
    today: &str,
) -> Result<fleetc::Compiled, ExitCode> {
    let fs = load_fs(repo, max_file_size).map_err(|d| {
        ui.report(&d);
        ExitCode::from(2)
    })?;
    let (compiled, diags) = compile(
        &fs,
        &Options {
            today: today.to_string(),
            ..Default::default()
        },
    );
    if ui.report(&diags) {
        return Err(ExitCode::from(2));
    }
    compiled.ok_or(ExitCode::from(2))
}

fn load_fs(repo: &Path, max_file_size: u64) -> Result<source::FileSet, Diags> {
    let limits = source::Limits {
        max_file_bytes: max_file_size,
        ..Default::default()
    };
    source::read_dir(repo, &limits)
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
    let ui = Ui {
        color,
        deny_warnings: cli.deny_warnings,
    };
    let today = match fleetc::resolve::policy::today_here(cli.today.as_deref()) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    match cli.command {
        Command::Schema { kind } => schema(kind.as_deref()),
        Command::Explain {
            args,
            component,
            value,
        } => {
            let (repo, cluster) = match args.as_slice() {
                [c] => (PathBuf::from("."), c.clone()),
                [r, c] => (PathBuf::from(r), c.clone()),
                _ => unreachable!("clap enforces 1..=2"),
            };
            let c = match compile_repo(&ui, &repo, cli.max_file_size, &today) {
                Ok(c) => c,
                Err(code) => return code,
            };
            match fleetc::explain::explain(&c, &cluster, component.as_deref(), value.as_deref()) {
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
        Command::Validate { repo } => {
            let c = match compile_repo(&ui, &repo, cli.max_file_size, &today) {
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
            let fs = match load_fs(&repo, cli.max_file_size) {
                Ok(fs) => fs,
                Err(d) => {
                    ui.report(&d);
                    return ExitCode::from(2);
                }
            };
            let opts = Options {
                format: format.map(Format::from),
                clusters,
                ..Default::default()
            };
            let (compiled, diags) = compile(&fs, &opts);
            if ui.report(&diags) {
                return ExitCode::from(2);
            }
            let Some(c) = compiled else {
                return ExitCode::from(2);
            };
            if check {
                return match write::compare(&output, &c.tree) {
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
            match write::write_dir(&output, &c.tree) {
                Ok(Outcome::UpToDate) => {
                    println!("{} is up to date", output.display());
                    ExitCode::SUCCESS
                }
                Ok(Outcome::Written { files }) => {
                    let resources: usize = c
                        .rendered
                        .clusters
                        .iter()
                        .flat_map(|x| &x.units)
                        .map(|u| u.resources.len())
                        .sum();
                    println!(
                        "rendered {} clusters, {resources} resources ({files} files) into {}",
                        c.rendered.clusters.len(),
                        output.display()
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => write_error(&e),
            }
        }
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
