//! `fleetc promote`: advance a rollout by one wave (edits `promotedThrough`
//! in the placement file, one line).

use std::path::PathBuf;

use crate::exit::{Exit, Failure};
use crate::Ctx;

#[derive(clap::Args)]
pub struct Args {
    /// The fleet repository (default: the current directory).
    #[arg(default_value = ".", value_name = "REPO")]
    repo_or_placement: PathBuf,
    /// The placement whose rollout moves on.
    placement: Option<String>,
}

pub fn run(ctx: &Ctx, a: Args) -> Result<Exit, Failure> {
    // `fleetc promote PLACEMENT` or `fleetc promote REPO PLACEMENT`.
    let (repo, name) = match a.placement {
        Some(p) => (a.repo_or_placement, p),
        None => (
            PathBuf::from("."),
            a.repo_or_placement.to_string_lossy().into_owned(),
        ),
    };
    let p = fleetc::promote::promote(&repo, &name)?;
    ctx.ui.say(&format!(
        "{}:{}: promotedThrough: {} → {}",
        p.file,
        p.line,
        p.from.as_deref().unwrap_or("(none)"),
        p.to
    ));
    Ok(Exit::Success)
}
