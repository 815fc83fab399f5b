//! `fleetc explain`: one cluster's groups and why, every placement and
//! policy, and where each value came from. Works from the planned fleet,
//! so a template broken elsewhere does not stop it.

use std::path::PathBuf;

use fleetc::diag::{Code, Diagnostic};
use fleetc::driver;

use crate::exit::{Exit, Failure};
use crate::{input, Ctx};

#[derive(clap::Args)]
pub struct Args {
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
}

pub fn run(ctx: &Ctx, a: Args) -> Result<Exit, Failure> {
    let (repo, cluster) = match a.args.as_slice() {
        [c] => (PathBuf::from("."), c.clone()),
        [r, c] => (PathBuf::from(r), c.clone()),
        _ => return Err(Failure::usage("expected `[REPO] CLUSTER`")),
    };
    let (_, planned, _) = input::plan(ctx, &repo, a.rev.as_deref(), ctx.options())?;
    // Problems found while resolving are shown, but do not stop the explanation.
    let failed = ctx.ui.report(&planned.diags);
    let planned: &'static driver::Planned = Box::leak(Box::new(planned));
    let text = fleetc::explain::explain(
        planned,
        &cluster,
        a.component.as_deref(),
        a.value.as_deref(),
    )
    .map_err(|e| Failure::invalid(Diagnostic::error(Code::UnknownName, e)))?;
    crate::ui::stdout(&text)?;
    if failed {
        return Err(Failure::reported());
    }
    Ok(Exit::Success)
}
