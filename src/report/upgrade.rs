//! Upgrade readiness: per cluster, the objects that the next two
//! Kubernetes minors stop serving; per minor in service, the clusters that
//! can move to the next one today.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::accept::Blocker;
use crate::kube::api;
use crate::load::model::Repo;

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UpgradeReadiness {
    /// Every cluster whose version fleetc has API data for, by name.
    pub clusters: Vec<ClusterUpgrade>,
    /// Per minor in service, the next minor and who can go there today.
    pub versions: Vec<VersionUpgrade>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterUpgrade {
    pub cluster: String,
    /// `1.31`.
    pub kubernetes: String,
    /// The next two minors, each with what it stops serving.
    pub steps: Vec<UpgradeStep>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UpgradeStep {
    /// `1.32`.
    pub to: String,
    /// Nothing this cluster receives stops being served at `to` (or before).
    pub ready: bool,
    /// What `to` no longer serves.
    pub removed: Vec<RemovedObject>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RemovedObject {
    pub api_version: String,
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
    /// The template it comes from.
    pub source: String,
    pub replacement: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VersionUpgrade {
    pub kubernetes: String,
    pub to: String,
    pub ready: Vec<String>,
    pub blocked: Vec<String>,
}

pub fn build(repo: &Repo, blockers: &[Blocker]) -> UpgradeReadiness {
    let mut by_cluster: BTreeMap<&str, Vec<&Blocker>> = BTreeMap::new();
    for b in blockers {
        by_cluster.entry(&b.cluster).or_default().push(b);
    }
    let mut clusters = Vec::new();
    let mut versions: BTreeMap<u32, (Vec<String>, Vec<String>)> = BTreeMap::new();
    let mut names: Vec<&crate::load::model::Cluster> = repo.clusters.iter().collect();
    names.sort_by(|a, b| a.name.cmp(&b.name));
    for c in names {
        let Some(minor) =
            api::minor_of(&c.kubernetes_version).filter(|m| api::versions().contains(m))
        else {
            continue;
        };
        let mine = by_cluster
            .get(c.name.as_str())
            .map(Vec::as_slice)
            .unwrap_or_default();
        let steps: Vec<UpgradeStep> = (1..=2)
            .map(|k| {
                let to = minor + k;
                let removed: Vec<RemovedObject> = mine
                    .iter()
                    .filter(|b| b.removed_in == to)
                    .map(|b| RemovedObject {
                        api_version: b.object.api_version.clone(),
                        kind: b.object.kind.clone(),
                        namespace: b.object.namespace.clone(),
                        name: b.object.name.clone(),
                        source: b.source.clone(),
                        replacement: b.replacement.clone(),
                    })
                    .collect();
                UpgradeStep {
                    to: format!("1.{to}"),
                    ready: mine.iter().all(|b| b.removed_in > to),
                    removed,
                }
            })
            .collect();
        let (ready, blocked) = versions.entry(minor).or_default();
        if steps[0].ready {
            ready.push(c.name.clone());
        } else {
            blocked.push(c.name.clone());
        }
        clusters.push(ClusterUpgrade {
            cluster: c.name.clone(),
            kubernetes: format!("1.{minor}"),
            steps,
        });
    }
    UpgradeReadiness {
        clusters,
        versions: versions
            .into_iter()
            .map(|(m, (ready, blocked))| VersionUpgrade {
                kubernetes: format!("1.{m}"),
                to: format!("1.{}", m + 1),
                ready,
                blocked,
            })
            .collect(),
    }
}
