//! `fleetc validate`: every check, every cluster rendered, nothing written.

use fleetc::diag::plural;
use fleetc::driver::Options;
use fleetc::emit::write;

use crate::exit::{Exit, Failure};
use crate::{input, Ctx};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    fleet: input::Fleet,
    /// Validate for this output format, overriding `Fleet.spec.output.format`
    /// (a fleet that serves both agents is validated once per format).
    #[arg(long, value_enum)]
    format: Option<crate::render::FormatArg>,
}

pub fn run(ctx: &Ctx, a: Args) -> Result<Exit, Failure> {
    // Every cluster is rendered and checked, a batch at a time; nothing is serialised.
    let opts = Options {
        tree: false,
        format: a.format.map(fleetc::load::model::Format::from),
        ..ctx.options()
    };
    let (fs, planned, opts) = input::plan(ctx, &a.fleet.repo, a.fleet.rev.as_deref(), opts)?;
    let c = input::render_to(ctx, fs, planned, &opts, &write::Discard, None)?;
    let repo = &c.repo;
    let policies = repo.units.iter().filter(|u| u.policy.is_some()).count();
    ctx.ui.say(&format!(
        "fleet `{}` is valid: {}, {}, {}, {}, {}",
        repo.fleet
            .as_ref()
            .map(|f| f.name.as_str())
            .unwrap_or_default(),
        plural(repo.clusters.len(), "cluster", "clusters"),
        plural(repo.groups.len(), "group", "groups"),
        plural(repo.units.len() - policies, "component", "components"),
        plural(policies, "policy", "policies"),
        plural(repo.placements.len(), "placement", "placements"),
    ));
    Ok(Exit::Success)
}
