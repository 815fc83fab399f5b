//! `fleetc schema`: print the JSON Schema of a fleet kind, or list the kinds.

use fleetc::diag::{Code, Diagnostic};
use fleetc::schema;

use crate::exit::{Exit, Failure};

#[derive(clap::Args)]
pub struct Args {
    /// Fleet, Cluster, ClusterGroup, Component, Policy, Placement, Inventory, FleetReport, Diagnostics or PolicyReport.
    kind: Option<String>,
}

pub fn run(a: Args) -> Result<Exit, Failure> {
    let Some(k) = a.kind else {
        let list: String = schema::kinds().map(|k| format!("{k}\n")).collect();
        crate::ui::stdout(&list)?;
        return Ok(Exit::Success);
    };
    let Some(s) = schema::bundled(&k) else {
        let kinds: Vec<&str> = schema::kinds().collect();
        return Err(Failure::invalid(
            Diagnostic::error(Code::Usage, format!("unknown kind `{k}`"))
                .help(format!("one of {}", kinds.join(", "))),
        ));
    };
    crate::ui::stdout(&format!(
        "{}\n",
        serde_json::to_string_pretty(&s).unwrap_or_default()
    ))?;
    Ok(Exit::Success)
}
