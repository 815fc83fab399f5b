//! `fleetc render`: stream the fleet into a staging directory swapped in at
//! the end, or (`--check`) compare it file by file with the output tree.

use std::path::{Path, PathBuf};

use fleetc::diag::{plural, Code, Diagnostic};
use fleetc::driver::Options;
use fleetc::emit::write::{self, Difference};
use fleetc::load::model::Format;

use crate::exit::{Exit, Failure};
use crate::{input, Ctx};

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum FormatArg {
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

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    fleet: input::Fleet,
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
}

pub fn run(ctx: &Ctx, a: Args) -> Result<Exit, Failure> {
    if let Some(n) = a.jobs {
        if n == 0 {
            return Err(Failure::usage("--jobs must be at least 1"));
        }
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global()
            .map_err(|e| {
                Failure::failed(Diagnostic::error(
                    Code::Io,
                    format!("cannot start {n} worker threads: {e}"),
                ))
            })?;
    }
    refuse_output(&a.fleet.repo, &a.output)?;
    // A tree whose recorded inputs equal this compile's is not rendered
    // again (`--check` always renders and compares every byte).
    let reuse = if a.check {
        None
    } else {
        write::recorded_digest(&a.output)
    };
    let opts = Options {
        format: a.format.map(Format::from),
        clusters: a.clusters,
        ..ctx.options()
    };
    let (fs, planned, opts) = input::plan(ctx, &a.fleet.repo, a.fleet.rev.as_deref(), opts)?;
    let out = &a.output;
    if reuse.as_deref() == Some(planned.inputs_digest.as_str()) && !planned.diags.has_errors() {
        if ctx.ui.report(&planned.diags) {
            return Err(Failure::reported());
        }
        ctx.ui.say(&format!("{} is up to date", out.display()));
        return Ok(Exit::Success);
    }
    if a.check {
        let checker = write::Checker::new(out)?;
        input::render_to(ctx, fs, planned, &opts, &checker)?;
        let diffs = checker.finish()?;
        if diffs.is_empty() {
            ctx.ui.say(&format!("{} is up to date", out.display()));
            return Ok(Exit::Success);
        }
        for d in &diffs {
            let (what, p) = match d {
                Difference::Changed(p) => ("changed", p),
                Difference::Missing(p) => ("missing", p),
                Difference::Extra(p) => ("extra", p),
            };
            ctx.ui.say(&format!("{what} {}", out.join(p).display()));
        }
        eprintln!(
            "error: {} is stale ({} {}); run `fleetc render -o {}`",
            out.display(),
            plural(diffs.len(), "path", "paths"),
            if diffs.len() == 1 {
                "differs"
            } else {
                "differ"
            },
            out.display()
        );
        return Ok(Exit::Differences);
    }
    let staging = write::Staging::new(out)?;
    let s = input::render_to(ctx, fs, planned, &opts, &staging)?;
    let files = staging.commit()?;
    ctx.ui.say(&format!(
        "rendered {}, {} ({}) into {}",
        plural(s.clusters, "cluster", "clusters"),
        plural(s.resources, "resource", "resources"),
        plural(files, "file", "files"),
        out.display()
    ));
    Ok(Exit::Success)
}

/// `-o` may not be the repository, one of its ancestors, or the file-system root.
fn refuse_output(repo: &Path, out: &Path) -> Result<(), Failure> {
    let (Some(r), Some(o)) = (write::lexical_absolute(repo), write::lexical_absolute(out)) else {
        return Ok(());
    };
    let r = r.canonicalize().unwrap_or(r);
    if o.parent().is_none() || r.starts_with(&o) {
        return Err(Failure::invalid(
            Diagnostic::error(
                Code::OutputRefused,
                format!(
                    "refusing to write to {}: it is the repository or contains it",
                    out.display()
                ),
            )
            .help("render into a directory of its own, e.g. -o out/"),
        ));
    }
    Ok(())
}
