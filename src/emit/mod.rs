//! Emitting: the rendered fleet becomes the output tree (SPEC §7), a sorted
//! map of path → bytes, which is then written to a directory (atomically, see
//! [`write`]) or compared with one (`render --check`).

pub mod agents;
pub mod write;
pub mod yaml;

use std::collections::BTreeMap;
use std::fmt::Write as _;

use rayon::prelude::*;
use sha2::{Digest, Sha256};

use crate::load::model::{Format, Repo};
use crate::render::Rendered;
use crate::resolve::Resolved;
use crate::source::FileSet;

/// The output tree: repo-relative path → file bytes, sorted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tree {
    pub files: BTreeMap<String, Vec<u8>>,
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    let d = Sha256::digest(bytes);
    let mut s = String::with_capacity(64);
    for b in d {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// A `kustomization.yaml` listing `resources` (already sorted).
pub(crate) fn kustomization(resources: &[String]) -> Vec<u8> {
    let mut s = String::from("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n");
    if resources.is_empty() {
        s.push_str("resources: []\n");
    } else {
        s.push_str("resources:\n");
        for r in resources {
            let mut q = String::new();
            if yaml::is_plain_safe(r) {
                q.push_str(r);
            } else {
                q = serde_json::to_string(r).unwrap_or_default();
            }
            let _ = writeln!(s, "- {q}");
        }
    }
    s.into_bytes()
}

/// The input files one cluster's output is computed from, sorted: `fleet.yaml`,
/// its cluster file, the files of its groups, of the placements that put
/// units on it, and of those units (definition and templates). A group or
/// placement that does not reach the cluster cannot change its output; one
/// that starts or stops reaching it changes this list.
pub fn cluster_inputs<'a>(repo: &'a Repo, rc: &crate::resolve::ResolvedCluster) -> Vec<&'a str> {
    let c = &repo.clusters[rc.cluster];
    let mut paths: Vec<&str> = vec!["fleet.yaml", &c.file];
    for g in &rc.groups {
        paths.extend(
            repo.groups
                .iter()
                .filter(|x| &x.name == g)
                .map(|x| x.file.as_str()),
        );
    }
    for ru in &rc.units {
        let u = &repo.units[ru.unit];
        if let Some(pi) = ru.placement {
            paths.push(&repo.placements[pi].file);
        }
        paths.push(&u.file);
        paths.extend(u.templates.iter().map(|t| t.path.as_str()));
    }
    paths.sort_unstable();
    paths.dedup();
    paths
}

/// [`cluster_inputs`] with the SHA-256 of each.
fn inputs_of(
    fs: &FileSet,
    repo: &Repo,
    resolved: &Resolved,
    ci: usize,
) -> BTreeMap<String, String> {
    cluster_inputs(repo, &resolved.clusters[ci])
        .into_iter()
        .filter_map(|p| fs.get(p).map(|b| (p.to_string(), sha256_hex(b))))
        .collect()
}

/// One cluster's files and its inventory entry.
type ClusterOut = (Vec<(String, Vec<u8>)>, serde_json::Value);

/// What `inventory.json` records besides the rendered fleet.
#[derive(Clone, Copy, Debug)]
pub struct Stamp<'a> {
    /// The git commit rendered.
    pub source_rev: Option<&'a str>,
    /// See [`crate::inputs_digest`].
    pub inputs_digest: &'a str,
}

/// Build the output tree of a rendered fleet (without `inventory.json` when
/// `inventory` is None: `diff` compares Kubernetes files only).
pub fn tree(
    fs: &FileSet,
    repo: &Repo,
    resolved: &Resolved,
    rendered: &Rendered,
    format: Format,
    inventory: Option<Stamp<'_>>,
) -> Tree {
    let with_inventory = inventory.is_some();
    let fleet_labels: Vec<(String, String)> = repo
        .fleet
        .as_ref()
        .map(|f| f.common_labels.clone())
        .unwrap_or_default();
    let depth = agents::depths(repo);
    // Per cluster in parallel (serialising is most of the work); merged in order.
    let per_cluster: Vec<ClusterOut> = rendered
        .clusters
        .par_iter()
        .enumerate()
        .map(|(ci, rc)| {
            let mut files: Vec<(String, Vec<u8>)> = Vec::new();
            let base = format!("clusters/{}", rc.name);
            let mut unit_dirs = Vec::new();
            let mut inv_units = Vec::new();
            match format {
                Format::Flux => {
                    for (p, bytes) in agents::flux_cluster(repo, rc, &fleet_labels) {
                        files.push((format!("{base}/flux/{p}"), bytes));
                    }
                    files.push((
                        format!("bootstrap/{}.yaml", rc.name),
                        agents::flux_bootstrap(repo, &rc.name, &fleet_labels),
                    ));
                }
                Format::ArgoCd => {
                    for (p, bytes) in
                        agents::argocd_cluster(repo, resolved, rc, &depth, &fleet_labels)
                    {
                        files.push((format!("argocd/{}/{p}", rc.name), bytes));
                    }
                }
                Format::Plain => {}
            }
            for ru in &rc.units {
                let dir = format!("{}/{}", ru.kind.dir(), ru.name);
                // An Argo CD Helm Application carries the chart itself: no directory.
                let has_dir = !(format == Format::ArgoCd && repo.units[ru.unit].helm.is_some());
                let mut listed = Vec::new();
                let mut inv_res = Vec::new();
                for r in &ru.resources {
                    let bytes = yaml::to_yaml(&r.node).into_bytes();
                    if with_inventory {
                        inv_res.push(serde_json::json!({
                            "apiVersion": r.api_version,
                            "kind": r.kind,
                            "namespace": r.namespace,
                            "name": r.name,
                            "path": format!("{base}/{dir}/{}", r.path),
                            "sha256": sha256_hex(&bytes),
                        }));
                    }
                    listed.push(r.path.clone());
                    files.push((format!("{base}/{dir}/{}", r.path), bytes));
                }
                for s in &ru.sops {
                    listed.push(s.rel.clone());
                    files.push((format!("{base}/{dir}/{}", s.rel), s.bytes.to_vec()));
                }
                listed.sort();
                if has_dir {
                    files.push((
                        format!("{base}/{dir}/kustomization.yaml"),
                        kustomization(&listed),
                    ));
                }
                inv_units.push(serde_json::json!({
                    "kind": ru.kind.as_str(),
                    "name": ru.name,
                    "version": ru.version,
                    "placement": ru.placement,
                    "mode": ru.mode.map(|m| m.as_str()),
                    "wave": ru.wave.as_ref().map(|w| w.0.clone()),
                    "promoted": ru.wave.as_ref().map(|w| w.1),
                    "path": has_dir.then(|| format!("{base}/{dir}")),
                    "agent": match format {
                        Format::Flux => Some(format!(
                            "{base}/flux/{}",
                            agents::kustomization_file(&ru.name)
                        )),
                        Format::ArgoCd => Some(format!("argocd/{}/{}.yaml", rc.name, ru.name)),
                        Format::Plain => None,
                    },
                    "resources": inv_res,
                }));
                if has_dir {
                    unit_dirs.push(dir);
                }
            }
            unit_dirs.sort();
            files.push((
                format!("{base}/kustomization.yaml"),
                kustomization(&unit_dirs),
            ));

            let rcl = resolved
                .clusters
                .iter()
                .position(|x| x.name == rc.name)
                .unwrap_or(ci);
            let c = &repo.clusters[resolved.clusters[rcl].cluster];
            if !with_inventory {
                return (files, serde_json::Value::Null);
            }
            let inputs = inputs_of(fs, repo, resolved, rcl);
            let mut digest_src = String::new();
            for (p, h) in &inputs {
                let _ = writeln!(digest_src, "{p}\0{h}");
            }
            let inv = serde_json::json!({
                "name": rc.name,
                "owner": c.owner,
                "kubernetesVersion": c.kubernetes_version,
                "labels": c.labels,
                "groups": resolved.clusters[rcl].groups,
                "units": inv_units,
                "inputs": inputs,
                "digest": sha256_hex(digest_src.as_bytes()),
            });
            (files, inv)
        })
        .collect();
    let mut files = BTreeMap::new();
    let mut inv_clusters = Vec::with_capacity(per_cluster.len());
    for (fs_, inv) in per_cluster {
        files.extend(fs_);
        inv_clusters.push(inv);
    }
    if format == Format::ArgoCd && !rendered.clusters.is_empty() {
        files.insert(
            "bootstrap/argocd.yaml".into(),
            agents::argocd_bootstrap(repo, &fleet_labels),
        );
    }
    let Some(stamp) = inventory else {
        return Tree { files };
    };
    let inventory = serde_json::json!({
        "apiVersion": "fleetc.dev/v1alpha1",
        "kind": "Inventory",
        "fleet": repo.fleet.as_ref().map(|f| f.name.clone()).unwrap_or_default(),
        "format": format.as_str(),
        "sourceRevision": stamp.source_rev,
        "inputsDigest": stamp.inputs_digest,
        "clusters": inv_clusters,
    });
    let mut inv = serde_json::to_string_pretty(&inventory).unwrap_or_default();
    inv.push('\n');
    files.insert("inventory.json".into(), inv.into_bytes());
    Tree { files }
}
