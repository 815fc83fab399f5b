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
    /// Check only shard K of N (clusters split by name, stably, as `render
    /// --shard` splits them); checks that span the fleet run on shard 1.
    #[arg(long, value_name = "K/N", value_parser = fleetc::driver::shard::Shard::parse)]
    shard: Option<fleetc::driver::shard::Shard>,
}

pub fn run(ctx: &Ctx, a: Args) -> Result<Exit, Failure> {
    // Every cluster is rendered and checked, a batch at a time; nothing is serialised.
    let opts = Options {
        tree: false,
        format: a.format.map(fleetc::load::model::Format::from),
        shard: a.shard,
        ..ctx.options()
    };
    let (fs, mut planned, opts) = input::plan(ctx, &a.fleet.repo, a.fleet.rev.as_deref(), opts)?;
    if a.shard.is_some_and(|s| s.index != 1) {
        // What spans the fleet is reported once, by shard 1.
        planned
            .diags
            .items
            .retain(fleetc::diag::Diagnostic::is_error);
    }
    let c = input::render_to(ctx, fs, planned, &opts, &write::Discard, None)?;
    let repo = &c.repo;
    if let Some(k) = a.shard {
        ctx.ui.say(&format!(
            "shard {k} of fleet `{}` is valid: {} of {}",
            repo.fleet
                .as_ref()
                .map(|f| f.name.as_str())
                .unwrap_or_default(),
            plural(c.clusters, "cluster", "clusters"),
            repo.clusters.len()
        ));
        return Ok(Exit::Success);
    }
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
