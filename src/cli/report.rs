//! `fleetc report`: validate (every cluster rendered, nothing kept), then
//! describe the fleet. The report is informative: what validate found is
//! listed in it and the exit code is 0; only a fleet that cannot be loaded
//! and resolved at all (exit 2) has no report.

use fleetc::diag::plural;
use fleetc::driver::{self, Options};
use fleetc::emit::write;

use crate::exit::{Exit, Failure};
use crate::{input, Ctx};

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum ReportFormat {
    Text,
    Markdown,
    Json,
    Html,
    /// wgpolicyk8s.io/v1alpha2 PolicyReports and ClusterPolicyReports.
    PolicyReport,
}

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    fleet: input::Fleet,
    /// text (a terminal), markdown (a review or PR comment), json (fleet-schema/report.schema.json), html (one self-contained page) or policy-report (the admission results as wgpolicyk8s.io/v1alpha2 PolicyReports, one YAML stream).
    #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
    format: ReportFormat,
}

pub fn run(ctx: &Ctx, a: Args) -> Result<Exit, Failure> {
    let opts = Options {
        tree: false,
        admission_results: true,
        ..ctx.options()
    };
    let (fs, planned, opts) = input::plan(ctx, &a.fleet.repo, a.fleet.rev.as_deref(), opts)?;
    let (s, diags) = driver::render_to(fs, planned, &opts, &write::Discard)?;
    let r = fleetc::report::build(
        &s.repo,
        &s.resolved,
        &opts.today,
        opts.source_rev.as_deref(),
        &diags,
        &s.upgrade_blockers,
        &s.admission,
    );
    let out = match a.format {
        ReportFormat::Text => fleetc::report::text::text(&r),
        ReportFormat::Markdown => fleetc::report::text::markdown(&r),
        ReportFormat::Json => r.to_json(),
        ReportFormat::Html => fleetc::report::html::html(&r),
        ReportFormat::PolicyReport => {
            fleetc::report::policy_report::yaml(&s.repo.cluster_names(), &s.admission)
        }
    };
    std::mem::forget(s);
    crate::ui::stdout(&out)?;
    let (errors, warnings) = (diags.error_count(), diags.warning_count());
    if errors + warnings > 0 {
        eprintln!(
            "note: the report lists {} and {} found by validate; `fleetc validate` shows each with its source",
            plural(errors, "error", "errors"),
            plural(warnings, "warning", "warnings")
        );
    }
    Ok(Exit::Success)
}
