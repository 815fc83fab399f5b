//! `fleetc diff`: the rendered fleet of two revisions compared, resource by
//! resource per cluster (exit 1 when anything differs).

use std::path::{Path, PathBuf};

use fleetc::diag::Diags;
use fleetc::driver::{self, Options, Planned};
use fleetc::git::Git;
use fleetc::source;

use crate::exit::{Exit, Failure};
use crate::Ctx;

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum DiffFormat {
    Text,
    Markdown,
    Json,
}

#[derive(clap::Args)]
pub struct Args {
    /// The fleet repository (default: the current directory).
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
    /// Show every file of a cluster that appears or disappears (by default, its objects are counted by kind).
    #[arg(long)]
    verbose: bool,
}

/// Changed clusters rendered and compared at a time.
const BATCH: usize = 256;

/// One side of a diff, read and planned.
struct Side {
    fs: source::FileSet,
    label: String,
    opts: Options,
    planned: Result<Planned, Diags>,
}

pub fn run(ctx: &Ctx, a: Args) -> Result<Exit, Failure> {
    ctx.ui.set_repo(&a.repo);
    let git = Git::open(&a.repo)?;
    let b = side(ctx, &git, &a.repo, Some(&a.base))?;
    let h = side(ctx, &git, &a.repo, a.head.as_deref())?;
    let (pb, ph) = match (&b.planned, &h.planned) {
        (Ok(pb), Ok(ph)) => (pb, ph),
        (Err(d), _) => return Err(does_not_render(ctx, &b.label, d)),
        (_, Err(d)) => return Err(does_not_render(ctx, &h.label, d)),
    };
    let (vb, vh) = (view(&b, pb), view(&h, ph));
    let report = driver::diff(vb, vh, BATCH, a.verbose)
        .map_err(|(label, diags)| does_not_render(ctx, label, &diags))?;
    let text = match a.format {
        DiffFormat::Text => fleetc::diff::format::text(&report, ctx.ui.color_stdout),
        DiffFormat::Markdown => fleetc::diff::format::markdown(
            &report,
            usize::try_from(a.max_bytes).unwrap_or(usize::MAX),
        ),
        DiffFormat::Json => {
            let mut s = serde_json::to_string_pretty(&fleetc::diff::format::json(&report))
                .unwrap_or_default();
            s.push('\n');
            s
        }
    };
    ctx.ui.take_stdout();
    crate::ui::stdout(&text)?;
    Ok(if report.is_empty() {
        Exit::Success
    } else {
        Exit::Differences
    })
}

fn view<'s>(s: &'s Side, planned: &'s Planned) -> driver::DiffSide<'s> {
    driver::DiffSide {
        fs: &s.fs,
        planned,
        opts: &s.opts,
        label: &s.label,
    }
}

/// A side that does not render: nothing to compare (exit 3), its errors shown.
fn does_not_render(ctx: &Ctx, label: &str, diags: &Diags) -> Failure {
    if ctx.ui.human() {
        eprintln!("error: {label} does not render, so there is nothing to compare; its errors:");
    }
    ctx.ui.report(diags);
    Failure::reported().into_failed()
}

/// Read and plan one side; a side that cannot be read is exit 2 (a bad
/// revision) or 3 (an unreadable work tree).
fn side(ctx: &Ctx, git: &Git, repo: &Path, rev: Option<&str>) -> Result<Side, Failure> {
    let input = &ctx.budgets.input;
    let (fs, label, commit) = match rev {
        Some(r) => {
            let (fs, id) = git.read_rev(r, input)?;
            (
                fs,
                format!("{r} ({})", fleetc::git::short(id)),
                Some(id.to_hex().to_string()),
            )
        }
        None => match source::read_dir(repo, input) {
            Ok(fs) => (fs, "the work tree".to_string(), None),
            Err(d) => {
                if ctx.ui.human() {
                    eprintln!("error: the work tree cannot be read:");
                }
                ctx.ui.report(&d);
                return Err(Failure::reported().into_failed());
            }
        },
    };
    let opts = Options {
        source_rev: commit,
        // The inventory records the revision, which differs.
        inventory: false,
        ..ctx.options()
    };
    let planned = driver::plan(&fs, &opts);
    Ok(Side {
        fs,
        label,
        opts,
        planned,
    })
}
