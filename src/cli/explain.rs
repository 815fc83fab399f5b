//! `fleetc explain`: one cluster's groups and why, every placement and
//! policy, and where each value came from. Works from the planned fleet,
//! so a template broken elsewhere does not stop it. With `--component`,
//! that cluster is also rendered to list what its admission policies say
//! of the component's objects.

use std::path::PathBuf;

use fleetc::diag::{Code, Diagnostic};
use fleetc::driver::{self, Options};
use fleetc::emit::write;

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
    // `--value` asks about one value: the admission results are for the
    // component as a whole.
    let text = match (a.component.as_deref(), &a.value) {
        (Some(name), None) => text + &admission(ctx, &repo, a.rev.as_deref(), &cluster, name)?,
        _ => text,
    };
    crate::ui::stdout(&text)?;
    if failed {
        return Err(Failure::reported());
    }
    Ok(Exit::Success)
}

/// Each patch of the unit on this cluster, in the order they apply, with
/// the objects it matched there (as they were when it applied) or, when it
/// deleted them, which.
fn patch_hits(s: &driver::Streamed, cluster: &str, unit: &str) -> String {
    let Some(ru) = s
        .resolved
        .clusters
        .iter()
        .find(|c| c.name == cluster)
        .and_then(|c| c.units.iter().find(|u| s.repo.units[u.unit].name == unit))
    else {
        return String::new();
    };
    if ru.patches.is_empty() {
        return String::new();
    }
    let hits = s.patch_objects.get(cluster).map_or(&[][..], Vec::as_slice);
    let mut out = String::from("patches (what each one matched on this cluster, in order):\n");
    for (id, patch) in &ru.patches {
        let here: Vec<String> = hits
            .iter()
            .filter(|h| h.patch == *id)
            .map(|h| {
                if h.deleted {
                    format!("deleted {}", h.object)
                } else {
                    h.object.clone()
                }
            })
            .collect();
        let what = match (&patch.formats, here.is_empty()) {
            (Some(f), true) if !f.contains(&s.format) => {
                let f: Vec<&str> = f.iter().map(|x| x.as_str()).collect();
                format!("not in this format ({} output only)", f.join(", "))
            }
            (_, true) => "nothing here".to_string(),
            (_, false) => here.join(", "),
        };
        out.push_str(&format!("  {}  {what}\n", patch.span.location()));
    }
    out
}

/// What the cluster's own admission policies say of the objects of one
/// component or policy: the cluster is rendered (nothing is written), and
/// each result on an object from the unit's files is listed.
fn admission(
    ctx: &Ctx,
    repo: &std::path::Path,
    rev: Option<&str>,
    cluster: &str,
    unit: &str,
) -> Result<String, Failure> {
    let opts = Options {
        tree: false,
        admission_results: true,
        patch_objects: true,
        clusters: vec![cluster.to_string()],
        ..ctx.options()
    };
    let (fs, planned, opts) = input::plan(ctx, repo, rev, opts)?;
    let (s, _) = driver::render_to(fs, planned, &opts, &write::Discard)?;
    let mut out = patch_hits(&s, cluster, unit);
    let dirs = [format!("components/{unit}/"), format!("policies/{unit}/")];
    out.push_str(&format!(
        "\nadmission (this cluster's policies on {unit}'s objects):\n"
    ));
    let mut any = false;
    for r in s
        .admission
        .iter()
        .filter(|r| dirs.iter().any(|d| r.source.starts_with(d.as_str())))
    {
        any = true;
        let f = &r.finding;
        let ns = r
            .object
            .namespace
            .as_deref()
            .map(|n| format!("{n}/"))
            .unwrap_or_default();
        let mode = if f.enforce { "enforce" } else { "audit" };
        let message = if f.message.is_empty() {
            String::new()
        } else {
            format!(": {}", f.message)
        };
        out.push_str(&format!(
            "  {:<5} {} `{}` rule {} ({mode}) on {} {ns}{}{message}\n",
            f.outcome.report_result(),
            f.engine.as_str(),
            f.policy,
            f.rule,
            r.object.kind,
            r.object.name,
        ));
    }
    if !any {
        out.push_str("  no admission policy on this cluster matches its objects\n");
    }
    Ok(out)
}
