//! Helm components (SPEC §2 Component.helm). fleetc runs no Helm: in the
//! flux format a chart becomes a `HelmRepository` (an `OCIRepository` for
//! an OCI chart) and a `HelmRelease` in the
//! component's directory, carrying the cluster's merged values and the chart
//! version; the Argo CD format carries it in the Application (`emit::argocd`).
//! Both objects then go through resource processing like any other (labels,
//! patches, identity checks), so a placement may patch the `HelmRelease`.

use serde_json::json;

use super::Resource;
use crate::load::model::{Helm, Unit};
use crate::resolve::ResolvedUnit;
use crate::yaml::{Key, Node};

/// Namespace of every Flux object fleetc writes.
pub const FLUX_NAMESPACE: &str = "flux-system";
/// Name of the Flux `GitRepository` of the rendered branch.
pub const FLUX_SOURCE: &str = "fleet-rendered";

/// Where the rendered tree keeps the copy of a chart kept in the fleet:
/// the unit's directory on that cluster, `chart/`.
pub fn chart_dir(cluster: &str, u: &Unit) -> String {
    format!("clusters/{cluster}/{}/{}/chart", u.kind.dir(), u.name)
}

/// The media type of a Helm chart's layer in an OCI artifact.
const HELM_CHART_LAYER: &str = "application/vnd.cncf.helm.chart.content.v1.tar+gzip";

/// The source of a Helm component's chart (none for a chart kept in the
/// fleet: the rendered branch's GitRepository is its source) and how its
/// HelmRelease names the chart (`chart` or `chartRef`).
fn chart_source(
    u: &Unit,
    h: &Helm,
    ru: &ResolvedUnit,
    interval: &str,
    cluster: &str,
) -> (Option<serde_json::Value>, (&'static str, serde_json::Value)) {
    if h.path.is_some() {
        // A chart kept in the fleet: its copy in the unit's directory of the
        // rendered branch, built by Flux from the GitRepository of that
        // branch, again whenever the branch changes (not only on a version bump).
        let chart = json!({
            "chart": format!("./{}", chart_dir(cluster, u)),
            "sourceRef": { "kind": "GitRepository", "name": FLUX_SOURCE, "namespace": FLUX_NAMESPACE },
            "reconcileStrategy": "Revision",
        });
        (None, ("chart", json!({ "spec": chart })))
    } else if h.is_oci() {
        let mut spec = json!({
            "interval": interval,
            "url": format!("{}/{}", h.repository.trim_end_matches('/'), h.chart),
            "layerSelector": { "mediaType": HELM_CHART_LAYER, "operation": "copy" },
        });
        if let Some(v) = &ru.version {
            spec["ref"] = json!({ "tag": v });
        }
        let source = json!({
            "apiVersion": "source.toolkit.fluxcd.io/v1",
            "kind": "OCIRepository",
            "metadata": { "name": u.name, "namespace": FLUX_NAMESPACE },
            "spec": spec,
        });
        let chart_ref =
            json!({ "kind": "OCIRepository", "name": u.name, "namespace": FLUX_NAMESPACE });
        (Some(source), ("chartRef", chart_ref))
    } else {
        let source = json!({
            "apiVersion": "source.toolkit.fluxcd.io/v1",
            "kind": "HelmRepository",
            "metadata": { "name": u.name, "namespace": FLUX_NAMESPACE },
            "spec": { "interval": interval, "url": h.repository },
        });
        let mut chart = json!({
            "chart": h.chart,
            "sourceRef": { "kind": "HelmRepository", "name": u.name },
        });
        if let Some(v) = &ru.version {
            chart["version"] = json!(v);
        }
        (Some(source), ("chart", json!({ "spec": chart })))
    }
}

/// The source (`HelmRepository`, or `OCIRepository` for an `oci://`
/// chart) and the `HelmRelease` of a Helm component on one cluster.
///
/// An OCI chart is an `OCIRepository` of the chart's artifact, pinned to
/// the version's tag, that the release names with `chartRef`: the form
/// Flux's documentation points OCI charts to (a `HelmRepository` of type
/// `oci` lacks, among others, signature verification of the chart).
pub fn flux_objects(
    u: &Unit,
    h: &Helm,
    ru: &ResolvedUnit,
    interval: &str,
    cluster: &str,
) -> Vec<Resource> {
    let (source, chart_of_release) = chart_source(u, h, ru, interval, cluster);
    let mut spec = json!({ "interval": interval, "releaseName": u.name });
    spec[chart_of_release.0] = chart_of_release.1;
    spec["install"] = json!({ "createNamespace": true });
    if let Some(ns) = &u.namespace {
        spec["targetNamespace"] = json!(ns);
        spec["storageNamespace"] = json!(ns);
    }
    let release = json!({
        "apiVersion": "helm.toolkit.fluxcd.io/v2",
        "kind": "HelmRelease",
        "metadata": { "name": u.name, "namespace": FLUX_NAMESPACE },
        "spec": spec,
    });
    source
        .map(|s| ("source.toolkit.fluxcd.io", s))
        .into_iter()
        .chain([("helm.toolkit.fluxcd.io", release)])
        .map(|(group, obj)| {
            let mut node = Node::from_json(&obj, &h.span);
            if obj["kind"] == "HelmRelease" {
                with_values(&mut node, &ru.values.node);
                // Agent settings (`agent.helmRelease`, checked in emit::settings),
                // laid over the spec like a merge patch; their leaves keep their
                // spans, so accept's CRD check points at them.
                if let Some(setting) = ru.agent.as_ref().and_then(|a| a.get("helmRelease")) {
                    super::patch::merge_into_spec(&mut node, setting);
                }
            }
            Resource {
                api_version: obj["apiVersion"].as_str().unwrap_or_default().to_string(),
                group: group.to_string(),
                kind: obj["kind"].as_str().unwrap_or_default().to_string(),
                name: u.name.clone(),
                namespace: Some(FLUX_NAMESPACE.to_string()),
                source: u.file.clone(),
                path: String::new(),
                node,
            }
        })
        .collect()
}

/// Set `spec.values` to the merged values (kept as parsed, spans and all),
/// unless there are none.
fn with_values(obj: &mut Node, values: &Node) {
    if values.as_map().is_none_or(|m| m.is_empty()) {
        return;
    }
    if let Some(spec) = obj
        .as_map_mut()
        .and_then(|m| m.get_mut("spec"))
        .and_then(Node::as_map_mut)
    {
        let span = values.span.clone();
        spec.insert(
            Key {
                name: "values".into(),
                span,
            },
            values.clone(),
        );
    }
}
