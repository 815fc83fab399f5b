//! Agent settings (`spec.agent`, docs/agent-settings.md): fields of the
//! Flux Kustomization, the Flux HelmRelease and the Argo CD Application
//! that deploy a unit, layered like values (`resolve`), laid over the
//! object fleetc builds (here for the Kustomization and the Application,
//! in `render::helm` for the HelmRelease) and checked once per distinct
//! setting: fields fleetc sets, or that would change the objects after
//! fleetc checked them, are refused; the rest must pass the agent's CRD.

use std::collections::BTreeSet;

use serde_json::Value as Json;

use crate::diag::{Code, Diagnostic, Diags};
use crate::load::model::{Format, Repo, Unit};
use crate::resolve::{Resolved, ResolvedCluster, ResolvedUnit};
use crate::yaml::Node;

/// One object an `agent` block configures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    Kustomization,
    HelmRelease,
    Application,
}

impl Part {
    pub const ALL: [Part; 3] = [Part::Kustomization, Part::HelmRelease, Part::Application];

    /// Its key under `agent`.
    pub fn key(self) -> &'static str {
        match self {
            Part::Kustomization => "kustomization",
            Part::HelmRelease => "helmRelease",
            Part::Application => "application",
        }
    }

    fn object(self) -> &'static str {
        match self {
            Part::Kustomization => "Flux Kustomization",
            Part::HelmRelease => "Flux HelmRelease",
            Part::Application => "Argo CD Application",
        }
    }

    /// The format whose output has this object.
    fn format(self) -> Format {
        match self {
            Part::Application => Format::ArgoCd,
            _ => Format::Flux,
        }
    }

    /// The spec fields a setting may hold.
    pub fn allowed(self) -> &'static [&'static str] {
        match self {
            Part::Kustomization => &[
                "deletionPolicy",
                "force",
                "healthCheckExprs",
                "healthChecks",
                "interval",
                "prune",
                "retryInterval",
                "serviceAccountName",
                "suspend",
                "timeout",
                "wait",
            ],
            Part::HelmRelease => &[
                "commonMetadata",
                "driftDetection",
                "healthCheckExprs",
                "install",
                "interval",
                "maxHistory",
                "persistentClient",
                "postRenderers",
                "rollback",
                "serviceAccountName",
                "suspend",
                "test",
                "timeout",
                "uninstall",
                "upgrade",
                "valuesFrom",
                "waitStrategy",
            ],
            Part::Application => &[
                "ignoreDifferences",
                "info",
                "revisionHistoryLimit",
                "syncPolicy",
            ],
        }
    }

    /// Why a field of the object's spec is not a setting (None: the CRD
    /// will say whether it exists at all).
    fn refused(self, field: &str) -> Option<&'static str> {
        const CHANGES_OBJECTS: &str = "it would change the objects after fleetc rendered and checked them; say it in the fleet instead (the component's `namespace`, a placement patch, values), so that validate sees what the cluster receives";
        let why = match (self, field) {
            (Part::Kustomization, "path" | "sourceRef") => {
                "fleetc points every Kustomization at the unit's directory of the rendered branch"
            }
            (Part::Kustomization | Part::HelmRelease, "dependsOn") => {
                "fleetc derives it from the unit's `dependsOn`"
            }
            (Part::Kustomization, "decryption") => {
                "fleetc sets it for units with SOPS-encrypted files (the Fleet's `output.sopsSecret`)"
            }
            (
                Part::Kustomization,
                "targetNamespace" | "namePrefix" | "nameSuffix" | "images" | "patches"
                | "postBuild" | "commonMetadata" | "components" | "ignoreMissingComponents",
            ) => CHANGES_OBJECTS,
            (Part::Kustomization | Part::HelmRelease, "kubeConfig") => {
                "a unit is applied to the cluster whose directory it is in"
            }
            (Part::HelmRelease, "chart" | "chartRef") => "it comes from the component's `helm`",
            (Part::HelmRelease, "releaseName" | "targetNamespace" | "storageNamespace") => {
                "it comes from the component's name and `namespace`"
            }
            (Part::HelmRelease, "values") => {
                "the chart's values are the component's `values`, layered through the fleet"
            }
            (Part::Application, "source" | "sources" | "sourceHydrator") => {
                "fleetc points every Application at the rendered branch or the component's chart"
            }
            (Part::Application, "destination") => "it is the cluster's `server` and the unit's `namespace`",
            (Part::Application, "project") => "it is the Fleet's `output.argocdProject`",
            _ => return None,
        };
        Some(why)
    }
}

/// The part of a unit's merged settings for `part`, if set.
pub fn part_of(agent: Option<&Node>, part: Part) -> Option<&Node> {
    agent
        .and_then(|a| a.get(part.key()))
        .filter(|n| n.as_map().is_some_and(|m| !m.is_empty()))
}

/// Lay `setting` over the `spec` of the object `obj`
/// ([`crate::render::patch::merge_into_spec`]).
pub use crate::render::patch::merge_into_spec as apply;

/// Check every distinct setting of the fleet once (a unit's merged
/// settings are usually the same on many clusters).
///
/// `build` gives the object fleetc builds for a part of a unit on a
/// cluster, before settings; in the flux format the HelmRelease is a rendered
/// object that `accept` checks against its CRD, so only its refused
/// fields are checked here.
pub fn check(
    repo: &Repo,
    resolved: &Resolved,
    format: Format,
    build: &dyn Fn(Part, &ResolvedCluster, &ResolvedUnit) -> Json,
) -> Diags {
    let mut diags = Diags::default();
    let mut seen: BTreeSet<(usize, [u8; 32])> = BTreeSet::new();
    for rc in &resolved.clusters {
        for ru in &rc.units {
            let Some(agent) = &ru.agent else { continue };
            if !seen.insert((ru.unit, crate::accept::digest(agent))) {
                continue;
            }
            let u = &repo.units[ru.unit];
            for part in Part::ALL {
                let Some(setting) = part_of(Some(agent), part) else {
                    continue;
                };
                if part == Part::HelmRelease && u.helm.is_none() {
                    diags.push(not_helm(u, agent));
                    continue;
                }
                let kept = without_refused(part, setting, &mut diags);
                let checked_by_accept = part == Part::HelmRelease && format == part.format();
                if !checked_by_accept {
                    against_crd(part, u, build(part, rc, ru), &kept, &mut diags);
                }
            }
        }
    }
    diags
}

/// Report each refused field of `setting`; the setting without them.
fn without_refused(part: Part, setting: &Node, diags: &mut Diags) -> Node {
    let mut kept = setting.clone();
    for (k, _) in setting.as_map().into_iter().flatten() {
        if let Some(why) = part.refused(&k.name) {
            if let Some(m) = kept.as_map_mut() {
                m.shift_remove(k.name.as_str());
            }
            diags.push(
                Diagnostic::error(
                    Code::AgentSetting,
                    format!("`agent.{}.{}` is not a setting: {why}", part.key(), k.name),
                )
                .at(&k.span)
                .help(format!(
                    "the {} settings are: {}",
                    part.object(),
                    part.allowed().join(", ")
                )),
            );
        }
    }
    kept
}

/// The object fleetc builds, with `setting` laid over it, against the
/// agent's CRD (strict, as the API server with field validation): errors
/// point at the setting's own lines.
fn against_crd(part: Part, u: &Unit, obj: Json, setting: &Node, diags: &mut Diags) {
    let api_version = obj["apiVersion"].as_str().unwrap_or_default().to_string();
    let kind = obj["kind"].as_str().unwrap_or_default().to_string();
    let Some(schema) = crate::accept::agent_schema(&api_version, &kind) else {
        return;
    };
    let mut node = Node::generated(&obj);
    apply(&mut node, setting);
    let what = format!("the {} of `{}`", part.object(), u.name);
    // Fields are named as the user wrote them: `agent.<part>.x`, not `spec.x`.
    let as_written = format!("`agent.{}.", part.key());
    for mut d in schema.check(&node, &what) {
        d.message = d.message.replace("`spec.", &as_written);
        diags.push(d);
    }
}

fn not_helm(u: &Unit, agent: &Node) -> Diagnostic {
    Diagnostic::error(
        Code::AgentSetting,
        format!(
            "`agent.helmRelease` is set for `{}`, which is not a Helm component",
            u.name
        ),
    )
    .at(&agent.key_span("helmRelease"))
    .help("only a component with `helm` is deployed by a HelmRelease; use `agent.kustomization` (flux) or `agent.application` (argocd)")
}
