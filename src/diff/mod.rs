//! `fleetc diff`: two rendered fleets compared resource by resource, per
//! cluster (SPEC §8).
//!
//! Input: the output trees of two compiles (file name = resource identity,
//! so a path under `clusters/<c>/` is a resource of cluster `c`), plus group
//! memberships to name folded cluster lists. Output: [`Report`], formatted by
//! [`format`] as text, markdown or JSON.
//!
//! - Identical changes on many clusters are one [`Block`]: identical when the
//!   added and removed lines agree once each cluster's own name is replaced
//!   by a placeholder (context lines may differ).
//! - Secrets never show values: every value under `data`/`stringData` (and
//!   the last-applied annotation) is replaced before diffing, with changed
//!   keys marked; SOPS files show no content at all.
//! - Blocks are ordered riskiest first: deletions, Namespaces and CRDs,
//!   audit→enforce flips, image changes, additions, the rest.

pub mod format;
mod mask;

use std::collections::{BTreeMap, BTreeSet};

use rayon::prelude::*;
use similar::{ChangeTag, TextDiff};

use crate::emit::Tree;

/// What happened to one resource on one cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Op {
    Removed,
    Changed,
    Added,
}

impl Op {
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Added => "added",
            Op::Changed => "changed",
            Op::Removed => "removed",
        }
    }
}

/// Why a change is risky, riskiest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Risk {
    Deletion,
    NamespaceOrCrd,
    Enforcement,
    Image,
    Addition,
    Other,
}

impl Risk {
    pub fn as_str(self) -> &'static str {
        match self {
            Risk::Deletion => "deletion",
            Risk::NamespaceOrCrd => "namespace-or-crd",
            Risk::Enforcement => "audit-to-enforce",
            Risk::Image => "image",
            Risk::Addition => "addition",
            Risk::Other => "other",
        }
    }
}

/// Identity of the changed object (from its YAML; empty for files that are not one object).
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Object {
    pub api_version: String,
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
}

/// One change on one cluster.
#[derive(Clone, Debug)]
pub struct Change {
    pub cluster: String,
    /// Path relative to the cluster's part of the tree (`components/x/...`,
    /// `flux/...`, `argocd/<x>.yaml`, `bootstrap.yaml`).
    pub path: String,
    /// The component or policy it belongs to.
    pub unit: String,
    pub op: Op,
    pub object: Object,
    pub risk: Risk,
    /// Unified diff hunks (no file header), Secrets masked.
    pub diff: String,
    /// Secrets: the keys whose values were added, changed or removed.
    pub secret_keys: Option<Vec<String>>,
    /// SOPS-encrypted file: no content is shown.
    pub encrypted: bool,
    key: String,
}

/// Changes that are identical on several clusters.
#[derive(Clone, Debug)]
pub struct Block {
    pub clusters: Vec<String>,
    /// The group whose members are exactly `clusters`, if any.
    pub group: Option<String>,
    /// The change as seen on the first cluster.
    pub change: Change,
}

#[derive(Clone, Debug, Default)]
pub struct Counts {
    pub added: usize,
    pub changed: usize,
    pub removed: usize,
}

impl Counts {
    fn add(&mut self, op: Op, n: usize) {
        match op {
            Op::Added => self.added += n,
            Op::Changed => self.changed += n,
            Op::Removed => self.removed += n,
        }
    }
}

/// A cluster that only one side has: its files summarised by kind rather
/// than each shown in full (`diff --verbose` shows them).
#[derive(Clone, Debug)]
pub struct WholeCluster {
    /// Added (only the head has it) or Removed (only the base).
    pub op: Op,
    pub files: usize,
    /// Objects by kind.
    pub kinds: BTreeMap<String, usize>,
}

/// The whole comparison.
#[derive(Clone, Debug, Default)]
pub struct Report {
    pub base: String,
    pub head: String,
    pub clusters_total: usize,
    pub clusters_changed: BTreeSet<String>,
    /// Resource changes counted per cluster.
    pub totals: Counts,
    /// Per component or policy: resource changes counted per cluster, and clusters touched.
    pub units: BTreeMap<String, (Counts, BTreeSet<String>)>,
    pub blocks: Vec<Block>,
    /// Clusters only one side has, summarised (see [`Folder::summarising`]).
    pub whole: BTreeMap<String, WholeCluster>,
}

impl Report {
    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty() && self.whole.is_empty()
    }
}

/// Files of one cluster: path relative to its part of the tree → bytes.
fn cluster_files(tree: &Tree) -> ClusterFiles<'_> {
    let mut out = ClusterFiles::new();
    for (p, bytes) in &tree.files {
        let parts: Vec<&str> = p.splitn(3, '/').collect();
        let (cluster, rel) = match parts.as_slice() {
            ["clusters", c, rest] => {
                if rest.ends_with("kustomization.yaml") {
                    // listings follow from the resources; their changes are the resources'
                    out.entry((*c).to_string()).or_default();
                    continue;
                }
                ((*c).to_string(), (*rest).to_string())
            }
            ["argocd", c, rest] => ((*c).to_string(), format!("argocd/{rest}")),
            ["bootstrap", f] if f.ends_with(".yaml") && *f != "argocd.yaml" => (
                f.trim_end_matches(".yaml").to_string(),
                "bootstrap.yaml".into(),
            ),
            _ => continue,
        };
        out.entry(cluster)
            .or_default()
            .insert(rel, bytes.as_slice());
    }
    out
}

/// The component or policy a cluster-relative path belongs to.
fn unit_of(rel: &str) -> String {
    let parts: Vec<&str> = rel.split('/').collect();
    match parts.as_slice() {
        ["components" | "policies", x, ..] => (*x).to_string(),
        ["argocd", f] => f.trim_end_matches(".yaml").to_string(),
        ["flux", .., f] => f
            .trim_end_matches(".yaml")
            .rsplit('_')
            .next()
            .unwrap_or(f)
            .to_string(),
        _ => "(bootstrap)".to_string(),
    }
}

/// Replace whole-word occurrences of `name` (bounded by characters that cannot
/// be part of a DNS label) with a placeholder.
fn unname(line: &str, name: &str) -> String {
    if name.is_empty() {
        return line.to_string();
    }
    let is_word = |c: char| c.is_ascii_alphanumeric() || c == '-';
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(i) = rest.find(name) {
        let before = if i > 0 {
            rest[..i].chars().next_back()
        } else {
            out.chars().next_back()
        };
        let after = rest[i + name.len()..].chars().next();
        let bounded = before.is_none_or(|c| !is_word(c)) && after.is_none_or(|c| !is_word(c));
        out.push_str(&rest[..i]);
        out.push_str(if bounded { "\u{0}CLUSTER\u{0}" } else { name });
        rest = &rest[i + name.len()..];
    }
    out.push_str(rest);
    out
}

fn risk_of(op: Op, object: &Object, removed: &[&str], added: &[&str]) -> Risk {
    if op == Op::Removed {
        return Risk::Deletion;
    }
    if (object.kind == "Namespace" && object.api_version == "v1")
        || object.kind == "CustomResourceDefinition"
    {
        return Risk::NamespaceOrCrd;
    }
    let has = |lines: &[&str], words: &[&str]| {
        lines.iter().any(|l| {
            let t = l.trim();
            words.iter().any(|w| t.contains(w))
        })
    };
    let loosened = has(removed, &["Audit", "audit", "dryrun", "warn"]);
    let tightened = has(added, &["Enforce", "enforce", "deny"]);
    let engine_field = |lines: &[&str]| {
        lines.iter().any(|l| {
            let t = l.trim_start();
            t.starts_with("validationFailureAction:")
                || t.starts_with("failureAction:")
                || t.starts_with("enforcementAction:")
        })
    };
    if loosened && tightened && engine_field(removed) && engine_field(added) {
        return Risk::Enforcement;
    }
    if added.iter().chain(removed).any(|l| {
        l.trim_start()
            .trim_start_matches("- ")
            .starts_with("image:")
    }) {
        return Risk::Image;
    }
    if op == Op::Added {
        return Risk::Addition;
    }
    Risk::Other
}

fn change_of(cluster: &str, rel: &str, old: Option<&[u8]>, new: Option<&[u8]>) -> Option<Change> {
    let op = match (old, new) {
        (None, Some(_)) => Op::Added,
        (Some(_), None) => Op::Removed,
        (Some(a), Some(b)) if a != b => Op::Changed,
        _ => return None,
    };
    let old_s = old.map(|b| String::from_utf8_lossy(b).into_owned());
    let new_s = new.map(|b| String::from_utf8_lossy(b).into_owned());
    let masked = mask::mask_pair(rel, old_s.as_deref(), new_s.as_deref());
    let object = masked.object.clone();
    let (a, b) = (
        masked.old.unwrap_or_default(),
        masked.new.unwrap_or_default(),
    );
    let td = TextDiff::from_lines(&a, &b);
    let mut removed: Vec<&str> = Vec::new();
    let mut added: Vec<&str> = Vec::new();
    let mut key = format!("{}\u{0}{rel}\u{0}", op.as_str());
    for c in td.iter_all_changes() {
        let (tag, line) = (c.tag(), c.value());
        match tag {
            ChangeTag::Equal => continue,
            ChangeTag::Delete => removed.push(line),
            ChangeTag::Insert => added.push(line),
        }
        key.push(if tag == ChangeTag::Delete { '-' } else { '+' });
        key.push_str(&unname(line, cluster));
        if !line.ends_with('\n') {
            key.push('\n');
        }
    }
    if masked.encrypted {
        // Ciphertext differs on every re-encryption; one block per file and op.
        key = format!("{}\u{0}{rel}\u{0}encrypted", op.as_str());
    }
    let risk = risk_of(op, &object, &removed, &added);
    let diff = if masked.encrypted {
        String::new()
    } else {
        let mut u = td.unified_diff();
        u.context_radius(3);
        u.missing_newline_hint(false);
        u.iter_hunks().map(|h| h.to_string()).collect()
    };
    Some(Change {
        cluster: cluster.to_string(),
        path: rel.to_string(),
        unit: unit_of(rel),
        op,
        object,
        risk,
        diff,
        secret_keys: masked.secret_keys,
        encrypted: masked.encrypted,
        key,
    })
}

/// (cluster, path, old bytes, new bytes) of a file that differs.
type Pair<'a> = (&'a String, &'a String, Option<&'a [u8]>, Option<&'a [u8]>);

/// Compare two output trees. `groups` maps group names to their members (head's,
/// then base's for groups only base has), to name folded cluster lists.
pub fn compare(
    base: &Tree,
    head: &Tree,
    groups: &BTreeMap<String, BTreeSet<String>>,
    base_label: &str,
    head_label: &str,
) -> Report {
    let (a, b) = (cluster_files(base), cluster_files(head));
    let clusters = a.keys().chain(b.keys()).collect::<BTreeSet<_>>().len();
    let (ka, kb): (BTreeSet<String>, BTreeSet<String>) =
        (a.keys().cloned().collect(), b.keys().cloned().collect());
    let mut f = Folder::default().summarising(
        &kb.difference(&ka).cloned().collect(),
        &ka.difference(&kb).cloned().collect(),
    );
    f.add(changes_between(&a, &b));
    f.finish(groups, base_label, head_label, clusters)
}

/// Every file that differs between two trees (or parts of them: the same
/// clusters of both sides), as changes in (cluster, path) order.
pub fn changes(base: &Tree, head: &Tree) -> Vec<Change> {
    changes_between(&cluster_files(base), &cluster_files(head))
}

type ClusterFiles<'a> = BTreeMap<String, BTreeMap<String, &'a [u8]>>;

fn changes_between(a: &ClusterFiles<'_>, b: &ClusterFiles<'_>) -> Vec<Change> {
    let clusters: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    let empty = BTreeMap::new();
    // Every (cluster, path) pair, in order; the line diffs run in parallel.
    let mut pairs: Vec<Pair<'_>> = Vec::new();
    for c in clusters {
        let fa = a.get(c).unwrap_or(&empty);
        let fb = b.get(c).unwrap_or(&empty);
        let paths: BTreeSet<&String> = fa.keys().chain(fb.keys()).collect();
        for p in paths {
            let (old, new) = (fa.get(p).copied(), fb.get(p).copied());
            if old != new {
                pairs.push((c, p, old, new));
            }
        }
    }
    pairs
        .par_iter()
        .filter_map(|&(c, p, old, new)| change_of(c, p, old, new))
        .collect()
}

/// Changes (in (cluster, path) order, as [`changes`] gives them, batches
/// concatenated in cluster order) folded into the report: identical
/// changes become one block, named by a group when its members are exactly
/// the block's clusters; riskiest blocks first. Fed a batch at a time: a
/// change identical to one already seen adds
/// only its cluster's name, so memory grows with the distinct changes, not
/// with the clusters they are on.
#[derive(Default)]
pub struct Folder {
    report: Report,
    folded: BTreeMap<String, Block>,
    summarise: BTreeMap<String, Op>,
}

impl Folder {
    /// Summarise the clusters that appear (`added`) or disappear
    /// (`removed`) by the kinds of their objects, instead of a block per
    /// file: a new cluster's every file in full says little and buries
    /// the other changes.
    pub fn summarising(mut self, added: &BTreeSet<String>, removed: &BTreeSet<String>) -> Self {
        for c in added {
            self.summarise.insert(c.clone(), Op::Added);
        }
        for c in removed {
            self.summarise.insert(c.clone(), Op::Removed);
        }
        self
    }

    /// Add the changes of the next clusters (in (cluster, path) order).
    pub fn add(&mut self, changes: Vec<Change>) {
        let report = &mut self.report;
        for ch in changes {
            let c = &ch.cluster;
            report.clusters_changed.insert(c.clone());
            report.totals.add(ch.op, 1);
            let u = report.units.entry(ch.unit.clone()).or_default();
            u.0.add(ch.op, 1);
            u.1.insert(c.clone());
            if let Some(op) = self.summarise.get(c) {
                let w = report
                    .whole
                    .entry(c.clone())
                    .or_insert_with(|| WholeCluster {
                        op: *op,
                        files: 0,
                        kinds: BTreeMap::new(),
                    });
                w.files += 1;
                if !ch.object.kind.is_empty() {
                    *w.kinds.entry(ch.object.kind.clone()).or_default() += 1;
                }
                continue;
            }
            match self.folded.get_mut(&ch.key) {
                Some(block) => block.clusters.push(c.clone()),
                None => {
                    self.folded.insert(
                        ch.key.clone(),
                        Block {
                            clusters: vec![c.clone()],
                            group: None,
                            change: ch,
                        },
                    );
                }
            }
        }
    }

    /// The report. `clusters_total` counts every cluster of either side,
    /// changed or not.
    pub fn finish(
        self,
        groups: &BTreeMap<String, BTreeSet<String>>,
        base_label: &str,
        head_label: &str,
        clusters_total: usize,
    ) -> Report {
        let mut report = self.report;
        report.base = base_label.to_string();
        report.head = head_label.to_string();
        report.clusters_total = clusters_total;
        let mut blocks: Vec<Block> = self.folded.into_values().collect();
        for b in &mut blocks {
            if b.clusters.len() > 1 {
                let set: BTreeSet<String> = b.clusters.iter().cloned().collect();
                b.group = groups
                    .iter()
                    .find(|(_, m)| **m == set)
                    .map(|(g, _)| g.clone());
            }
        }
        blocks.sort_by(|x, y| {
            (x.change.risk, &x.change.path, x.change.op, &x.clusters).cmp(&(
                y.change.risk,
                &y.change.path,
                y.change.op,
                &y.clusters,
            ))
        });
        report.blocks = blocks;
        report
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_names_are_replaced_only_as_whole_words() {
        assert_eq!(
            unname("host: web.a.example", "a"),
            "host: web.\u{0}CLUSTER\u{0}.example"
        );
        assert_eq!(unname("name: data", "a"), "name: data");
        assert_eq!(
            unname("prod-1 prod-12", "prod-1"),
            "\u{0}CLUSTER\u{0} prod-12"
        );
    }
}
