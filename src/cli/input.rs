//! Reading a fleet: from the work tree or a git revision, then planned.

use std::path::{Path, PathBuf};

use fleetc::driver::{self, Options, Planned};
use fleetc::git::Git;
use fleetc::source;

use crate::exit::Failure;
use crate::Ctx;

/// Where a command reads the fleet: `[REPO] [--rev REV]`.
#[derive(clap::Args)]
pub struct Fleet {
    /// The fleet repository (default: the current directory).
    #[arg(default_value = ".")]
    pub repo: PathBuf,
    /// Read the fleet from this git revision instead of the work tree.
    #[arg(long, value_name = "REV")]
    pub rev: Option<String>,
}

/// A fleet read from the work tree or from a git revision.
pub struct Loaded {
    pub fs: source::FileSet,
    /// The commit it was read from (full hex), for inventory.json.
    pub commit: Option<String>,
}

/// Read the fleet at `repo`, from `rev` when given.
pub fn load(ctx: &Ctx, repo: &Path, rev: Option<&str>) -> Result<Loaded, Failure> {
    ctx.ui.set_repo(repo);
    match rev {
        None => match source::read_dir(repo, &ctx.budgets.input) {
            Ok(fs) => Ok(Loaded { fs, commit: None }),
            Err(diags) => {
                ctx.ui.report(&diags);
                Err(Failure::reported())
            }
        },
        Some(rev) => {
            let (fs, id) = Git::open(repo).and_then(|g| g.read_rev(rev, &ctx.budgets.input))?;
            Ok(Loaded {
                fs,
                commit: Some(id.to_hex().to_string()),
            })
        }
    }
}

/// Read and plan a repository ([`driver::plan`]); a fleet that does not
/// plan has its diagnostics reported.
///
/// The files are kept until the process exits: a large fleet is millions
/// of small allocations, and freeing them one by one just before exiting
/// costs time nobody waits for.
pub fn plan(
    ctx: &Ctx,
    repo: &Path,
    rev: Option<&str>,
    opts: Options,
) -> Result<(&'static source::FileSet, Planned, Options), Failure> {
    let loaded = load(ctx, repo, rev)?;
    let opts = Options {
        source_rev: loaded.commit,
        ..opts
    };
    let fs: &'static source::FileSet = Box::leak(Box::new(loaded.fs));
    match driver::plan(fs, &opts) {
        Ok(p) => Ok((fs, p, opts)),
        Err(d) => {
            ctx.ui.report(&d);
            Err(Failure::reported())
        }
    }
}

/// Stream a planned fleet into `sink` ([`driver::render_to`], or
/// [`driver::render_keeping`] what `recorded` holds) and report the
/// diagnostics; an error fails (the sink's content is then to be thrown
/// away).
pub fn render_to(
    ctx: &Ctx,
    fs: &source::FileSet,
    planned: Planned,
    opts: &Options,
    sink: &dyn fleetc::emit::write::Sink,
    recorded: Option<&fleetc::emit::recorded::Recorded>,
) -> Result<&'static driver::Streamed, Failure> {
    let (streamed, diags) = match recorded {
        Some(r) => driver::render_keeping(fs, planned, opts, sink, r)?,
        None => driver::render_to(fs, planned, opts, sink)?,
    };
    if ctx.ui.report(&diags) {
        std::mem::forget(streamed);
        return Err(Failure::reported());
    }
    // Kept until exit, like the files.
    Ok(Box::leak(Box::new(streamed)))
}
