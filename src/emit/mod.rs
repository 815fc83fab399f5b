//! Emitting: the rendered fleet becomes the output tree (SPEC §7), a sorted
//! map of path → bytes, which is then written to a directory (atomically, see
//! [`write`]) or compared with one (`render --check`).

pub mod agents;
pub mod recorded;
pub mod settings;
pub mod write;

use std::collections::BTreeMap;
use std::fmt::Write as _;

use rayon::prelude::*;
use sha2::{Digest, Sha256};

use crate::load::model::{Format, Repo};
use crate::render::{Rendered, RenderedCluster};
use crate::resolve::{Resolved, ResolvedCluster};
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
            if crate::yaml::write::is_plain_safe(r) {
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
/// that starts or stops reaching it changes this list. `crd_files` is
/// [`Repo::declared_crd_files`] (every cluster reads them), found once by
/// the caller: finding it per cluster would cost the fleet per cluster.
pub fn cluster_inputs<'a>(
    repo: &'a Repo,
    rc: &ResolvedCluster,
    crd_files: &[&'a str],
) -> Vec<&'a str> {
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
            paths.extend(repo.placements[pi].patch_files.iter().map(String::as_str));
        }
        paths.push(&u.file);
        paths.extend(u.templates.iter().map(|t| t.path.as_str()));
        if let Some(h) = &u.helm {
            paths.extend(h.files.iter().map(String::as_str));
        }
    }
    paths.extend_from_slice(crd_files);
    paths.sort_unstable();
    paths.dedup();
    paths
}

/// What one cluster owns in the output tree: every file [`Emitter::cluster`]
/// writes for it lies at or under one of these.
pub fn cluster_paths(format: Format, name: &str) -> Vec<String> {
    let mut out = vec![format!("clusters/{name}")];
    match format {
        Format::Flux => out.push(format!("bootstrap/{name}.yaml")),
        Format::ArgoCd => out.push(format!("argocd/{name}")),
        Format::Plain => {}
    }
    out
}

/// The files of the tree no cluster owns: [`Emitter::fleet_files`],
/// `inventory.json`, and a shard's `shard.json` and `objects/`.
pub fn fleet_paths(format: Format) -> Vec<String> {
    let mut out = vec![
        "inventory.json".to_string(),
        "shard.json".to_string(),
        "objects".to_string(),
    ];
    if format == Format::ArgoCd {
        out.push("bootstrap/argocd.yaml".into());
    }
    out
}

/// [`cluster_inputs`] with the SHA-256 of each.
fn inputs_of<'a>(
    fs: &FileSet,
    repo: &'a Repo,
    rc: &ResolvedCluster,
    crd_files: &[&'a str],
) -> BTreeMap<String, String> {
    cluster_inputs(repo, rc, crd_files)
        .into_iter()
        .filter_map(|p| fs.get(p).map(|b| (p.to_string(), sha256_hex(b))))
        .collect()
}

/// What `inventory.json` records besides the rendered fleet.
#[derive(Clone, Copy, Debug)]
pub struct Stamp<'a> {
    /// The git commit rendered.
    pub source_rev: Option<&'a str>,
    /// See [`crate::driver::inputs_digest`].
    pub inputs_digest: &'a str,
}

/// What emitting needs once per fleet.
pub struct Emitter<'a> {
    fs: &'a FileSet,
    repo: &'a Repo,
    format: Format,
    fleet_labels: Vec<(String, String)>,
    depth: Vec<usize>,
    with_inventory: bool,
    /// Per cluster, [`crate::driver::cluster_digests`] (its inventory entry's `inputsDigest`).
    digests: BTreeMap<String, String>,
    /// [`Repo::declared_crd_files`], an input of every cluster.
    crd_files: Vec<&'a str>,
}

/// One cluster's files and, when the inventory is wanted, its entry there
/// (pretty JSON, see [`Emitter::inventory`]).
pub struct ClusterFiles {
    pub files: Vec<(String, Vec<u8>)>,
    pub inventory: Option<String>,
    pub resources: usize,
}

impl<'a> Emitter<'a> {
    pub fn new(fs: &'a FileSet, repo: &'a Repo, format: Format, with_inventory: bool) -> Self {
        Emitter {
            fs,
            repo,
            format,
            fleet_labels: repo
                .fleet
                .as_ref()
                .map(|f| f.common_labels.clone())
                .unwrap_or_default(),
            depth: agents::depths(repo),
            with_inventory,
            digests: BTreeMap::new(),
            crd_files: repo.declared_crd_files(),
        }
    }

    /// Record each cluster's digest in its inventory entry.
    pub fn set_cluster_digests(&mut self, digests: BTreeMap<String, String>) {
        self.digests = digests;
    }

    /// Serialise one rendered cluster (`rc` is its resolution).
    pub fn cluster(&self, rc: &ResolvedCluster, rendered: &RenderedCluster) -> ClusterFiles {
        let (repo, format) = (self.repo, self.format);
        let fleet_labels = &self.fleet_labels;
        let with_inventory = self.with_inventory;
        let mut files: Vec<(String, Vec<u8>)> = Vec::new();
        let name = &rendered.name;
        let base = format!("clusters/{name}");
        let mut unit_dirs = Vec::new();
        let mut inv_units = Vec::new();
        let mut resources = 0;
        match format {
            Format::Flux => {
                for (p, bytes) in agents::flux_cluster(repo, rc, rendered, fleet_labels) {
                    files.push((format!("{base}/flux/{p}"), bytes));
                }
                files.push((
                    format!("bootstrap/{name}.yaml"),
                    agents::flux_bootstrap(repo, name, fleet_labels),
                ));
            }
            Format::ArgoCd => {
                for (p, bytes) in
                    agents::argocd_cluster(repo, rc, rendered, &self.depth, fleet_labels)
                {
                    files.push((format!("argocd/{name}/{p}"), bytes));
                }
            }
            Format::Plain => {}
        }
        for ru in &rendered.units {
            let dir = format!("{}/{}", ru.kind.dir(), ru.name);
            // An Argo CD Helm Application carries the chart itself: no directory.
            let has_dir = !(format == Format::ArgoCd && repo.units[ru.unit].helm.is_some());
            let mut listed = Vec::new();
            let mut inv_res = Vec::new();
            resources += ru.resources.len();
            for r in &ru.resources {
                let bytes = crate::yaml::write::to_yaml(&r.node).into_bytes();
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
            // A chart kept in the fleet goes along, beside what the unit's
            // kustomization.yaml lists: the agent builds it from here.
            let chart = repo.units[ru.unit].helm.as_ref();
            if let (Some(root), Some(h)) = (chart.and_then(|h| h.path.as_deref()), chart) {
                for f in &h.files {
                    let rel = f.strip_prefix(root).unwrap_or(f).trim_start_matches('/');
                    let bytes = self.fs.get(f).map(|b| b.to_vec()).unwrap_or_default();
                    files.push((format!("{base}/{dir}/chart/{rel}"), bytes));
                }
            }
            listed.sort();
            if has_dir {
                files.push((
                    format!("{base}/{dir}/kustomization.yaml"),
                    kustomization(&listed),
                ));
            }
            if with_inventory {
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
                        Format::ArgoCd => Some(format!("argocd/{name}/{}.yaml", ru.name)),
                        Format::Plain => None,
                    },
                    "resources": inv_res,
                }));
            }
            if has_dir {
                unit_dirs.push(dir);
            }
        }
        unit_dirs.sort();
        files.push((
            format!("{base}/kustomization.yaml"),
            kustomization(&unit_dirs),
        ));
        let inventory = with_inventory.then(|| {
            let c = &repo.clusters[rc.cluster];
            let inputs = inputs_of(self.fs, repo, rc, &self.crd_files);
            let mut digest_src = String::new();
            for (p, h) in &inputs {
                let _ = writeln!(digest_src, "{p}\0{h}");
            }
            let entry = serde_json::json!({
                "name": name,
                "owner": c.owner,
                "kubernetesVersion": c.kubernetes_version,
                "labels": c.labels,
                "groups": rc.groups,
                "units": inv_units,
                "inputs": inputs,
                "digest": sha256_hex(digest_src.as_bytes()),
                "inputsDigest": self.digests.get(name.as_str()),
            });
            serde_json::to_string_pretty(&entry).unwrap_or_default()
        });
        ClusterFiles {
            files,
            inventory,
            resources,
        }
    }

    /// Files of the fleet as a whole (Argo CD's root Application), once any
    /// cluster is rendered.
    pub fn fleet_files(&self, any_cluster: bool) -> Vec<(String, Vec<u8>)> {
        if self.format == Format::ArgoCd && any_cluster {
            vec![(
                "bootstrap/argocd.yaml".into(),
                agents::argocd_bootstrap(self.repo, &self.fleet_labels),
            )]
        } else {
            Vec::new()
        }
    }

    /// `inventory.json`, written in pieces: the head (everything up to the
    /// cluster list), then each cluster's entry as [`Inventory::entry`]
    /// formats it, then [`Inventory::tail`]. The bytes equal one pretty JSON
    /// document, so a large fleet's inventory never has to be in memory whole.
    pub fn inventory(&self, stamp: Stamp<'_>) -> Inventory {
        let head = serde_json::json!({
            "apiVersion": "fleetc.dev/v1alpha1",
            "kind": "Inventory",
            "fleet": self.repo.fleet.as_ref().map(|f| f.name.clone()).unwrap_or_default(),
            "format": self.format.as_str(),
            "sourceRevision": stamp.source_rev,
            "inputsDigest": stamp.inputs_digest,
            "clusters": [],
        });
        let text = serde_json::to_string_pretty(&head).unwrap_or_default();
        // `..."clusters": []\n}` → the part before `[]`.
        let open = text.strip_suffix("[]\n}").unwrap_or(&text).to_string();
        Inventory { open, entries: 0 }
    }
}

/// See [`Emitter::inventory`].
pub struct Inventory {
    open: String,
    entries: usize,
}

impl Inventory {
    /// The bytes that come before the first entry.
    pub fn head(&self) -> Vec<u8> {
        self.open.as_bytes().to_vec()
    }

    /// One cluster's entry (its pretty JSON), re-indented into the list and
    /// with the separator it needs.
    pub fn entry(&mut self, json: &str) -> Vec<u8> {
        let mut s = String::with_capacity(json.len() + json.len() / 8 + 8);
        s.push_str(if self.entries == 0 { "[\n" } else { ",\n" });
        self.entries += 1;
        for (i, line) in json.split('\n').enumerate() {
            if i > 0 {
                s.push('\n');
            }
            s.push_str("    ");
            s.push_str(line);
        }
        s.into_bytes()
    }

    /// The bytes after the last entry.
    pub fn tail(&self) -> Vec<u8> {
        if self.entries == 0 {
            b"[]\n}\n".to_vec()
        } else {
            b"\n  ]\n}\n".to_vec()
        }
    }
}

/// Build the output tree of a fleet rendered in memory (without
/// `inventory.json` when `inventory` is None: `diff` compares Kubernetes
/// files only); `digests` are the clusters' entries' `inputsDigest`.
pub fn tree(
    fs: &FileSet,
    (repo, resolved): (&Repo, &Resolved),
    rendered: &Rendered,
    format: Format,
    inventory: Option<Stamp<'_>>,
    digests: BTreeMap<String, String>,
) -> Tree {
    let mut e = Emitter::new(fs, repo, format, inventory.is_some());
    e.set_cluster_digests(digests);
    let by_name: BTreeMap<&str, &ResolvedCluster> = resolved
        .clusters
        .iter()
        .map(|c| (c.name.as_str(), c))
        .collect();
    // Per cluster in parallel (serialising is most of the work); merged in order.
    let per_cluster: Vec<ClusterFiles> = rendered
        .clusters
        .par_iter()
        .filter_map(|rc| by_name.get(rc.name.as_str()).map(|r| e.cluster(r, rc)))
        .collect();
    let mut files = BTreeMap::new();
    let mut inv = inventory.map(|s| {
        let i = e.inventory(s);
        let head = i.head();
        (i, head)
    });
    for c in per_cluster {
        files.extend(c.files);
        if let (Some((i, bytes)), Some(entry)) = (inv.as_mut(), c.inventory) {
            bytes.extend(i.entry(&entry));
        }
    }
    files.extend(e.fleet_files(!rendered.clusters.is_empty()));
    if let Some((i, mut bytes)) = inv {
        bytes.extend(i.tail());
        files.insert("inventory.json".into(), bytes);
    }
    Tree { files }
}
