//! `fleetc publish`: commit the rendered tree of a revision onto a branch
//! (no checkout, no push).

use std::path::PathBuf;

use fleetc::driver;
use fleetc::git::publish::{publish, tip_inputs_digest, Outcome};
use fleetc::git::{short, Git};

use crate::exit::{Exit, Failure};
use crate::{input, Ctx};

#[derive(clap::Args)]
pub struct Args {
    /// The fleet repository (default: the current directory).
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
    /// Publish even when the branch was rendered from a newer source, and
    /// render even when the branch's inputs digest says nothing changed.
    #[arg(long)]
    force: bool,
}

pub fn run(ctx: &Ctx, a: Args) -> Result<Exit, Failure> {
    let git = Git::open(&a.repo)?;
    let source = git.commit_id(&a.rev)?;
    let loaded = input::load(ctx, &a.repo, Some(&a.rev))?;
    let opts = driver::Options {
        source_rev: loaded.commit,
        ..ctx.options()
    };
    // Same inputs as the branch's tip was rendered from: the same tree,
    // so nothing is rendered to find that out (--force renders anyway,
    // and so repairs a hand-edited branch).
    let unchanged = if a.force {
        None
    } else {
        tip_inputs_digest(&git, &a.branch)?
    };
    if let Some((tip, digest)) = unchanged {
        if let Ok(planned) = driver::plan(&loaded.fs, &opts) {
            if planned.inputs_digest == digest && !planned.diags.has_errors() {
                ctx.ui.report(&planned.diags);
                ctx.ui.say(&format!(
                    "{} is up to date at {} (rendered from {}; same inputs, nothing rendered)",
                    a.branch,
                    short(tip),
                    short(source)
                ));
                return Ok(Exit::Success);
            }
        }
    }
    let (compiled, diags) = driver::compile(&loaded.fs, &opts);
    if ctx.ui.report(&diags) {
        return Err(Failure::reported());
    }
    let Some(c) = compiled else {
        return Err(Failure::reported());
    };
    // Kept until exit: freeing a large fleet just before exiting costs time nobody waits for.
    let c: &'static driver::Compiled = Box::leak(Box::new(c));
    let branch = &a.branch;
    match publish(&git, source, branch, &c.tree, a.message.as_deref(), a.force)? {
        Outcome::Committed { commit, .. } => ctx.ui.say(&format!(
            "published {} onto {branch} (rendered from {})",
            short(commit),
            short(source)
        )),
        Outcome::Unchanged { tip } => ctx.ui.say(&format!(
            "{branch} is up to date at {} (rendered from {})",
            short(tip),
            short(source)
        )),
    }
    Ok(Exit::Success)
}
