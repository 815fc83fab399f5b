//! A read [`Layout`] as the files of a new fleet: `fleet.yaml`, a cluster
//! per overlay, a component per base (its resource files byte for byte
//! under `templates/`), a placement per component over the clusters that
//! list it, and the overlays' changes as patch files under `patches/`.
//!
//! Order is kept: on each cluster, kustomize applies an overlay's changes
//! in sequence, and fleetc applies a placement's patches, then those of
//! each matching target in list order. A change several overlays make
//! becomes one entry for all of them (the placement's own patches when
//! every cluster begins with it, else a target naming the ClusterGroup of
//! those clusters, written under `groups/`),
//! placed so that each cluster still sees its changes in its order
//! ([`entries`]).

use std::collections::{BTreeMap, BTreeSet};

use super::{Change, Layout, Options};
use crate::scaffold::with_schema;

/// Namespaces every cluster has (fleetc counts them as existing).
const BUILT_IN_NAMESPACES: [&str; 5] = [
    "default",
    "kube-system",
    "kube-public",
    "kube-node-lease",
    "flux-system",
];

/// The new fleet: (path, bytes), sorted.
pub fn files(
    layout: &Layout,
    opts: &Options,
    overlays_shown: &[String],
) -> BTreeMap<String, Vec<u8>> {
    let mut out: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    out.insert(
        "fleet.yaml".into(),
        fleet(opts, overlays_shown).into_bytes(),
    );
    for (path, text) in crate::scaffold::schema_files() {
        out.insert(path, text.into_bytes());
    }
    for c in &layout.clusters {
        out.insert(
            format!("clusters/{}.yaml", c.name),
            cluster(layout, c).into_bytes(),
        );
    }
    let mut groups = Groups::default();
    for (i, comp) in layout.components.iter().enumerate() {
        out.insert(
            format!("components/{}/component.yaml", comp.name),
            component(comp).into_bytes(),
        );
        for (rel, bytes) in &comp.templates {
            out.insert(
                format!("components/{}/templates/{rel}", comp.name),
                bytes.clone(),
            );
        }
        let on: Vec<&super::Cluster> = layout
            .clusters
            .iter()
            .filter(|c| c.components.contains(&i))
            .collect();
        if !on.is_empty() {
            placement(i, comp, &on, &mut groups, &mut out);
        }
    }
    for (clusters, name) in &groups.names {
        let text = with_schema(
            "clustergroup",
            1,
            &format!(
                "# The overlays that share changes (see the placements' targets).\napiVersion: fleetc.dev/v1alpha1\nkind: ClusterGroup\nmetadata:\n  name: {name}\nspec:\n  clusters: {}\n",
                flow_list(clusters)
            ),
        );
        out.insert(format!("groups/{name}.yaml"), text.into_bytes());
    }
    out
}

/// The groups of clusters that share a change: one per set of clusters,
/// named after them.
#[derive(Default)]
struct Groups {
    names: BTreeMap<Vec<String>, String>,
    taken: BTreeSet<String>,
}

impl Groups {
    fn of(&mut self, clusters: &[&str]) -> String {
        let key: Vec<String> = clusters.iter().map(|s| s.to_string()).collect();
        if let Some(n) = self.names.get(&key) {
            return n.clone();
        }
        let stem = super::label_of(&clusters.join("-"));
        let mut name = stem.clone();
        let mut n = 2;
        while !self.taken.insert(name.clone()) {
            name = super::label_of(&format!("{}-{n}", &stem[..stem.len().min(58)]));
            n += 1;
        }
        self.names.insert(key, name.clone());
        name
    }
}

fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

fn flow_list(items: &[String]) -> String {
    let q: Vec<String> = items.iter().map(|s| quote(s)).collect();
    format!("[{}]", q.join(", "))
}

fn fleet(opts: &Options, overlays: &[String]) -> String {
    let output = match &opts.repository {
        Some(r) => format!(
            "  output:\n    format: flux\n    repository: {}\n    branch: rendered\n",
            quote(r)
        ),
        None => "  output:\n    # No agent yet: plain manifests, as `kubectl kustomize` printed them.\n    # Give a repository and `format: flux` (or argocd) when the agents move.\n    format: plain\n".into(),
    };
    with_schema(
        "fleet",
        0,
        &format!(
            "# Imported by `fleetc import kustomize` from {}.
apiVersion: fleetc.dev/v1alpha1
kind: Fleet
metadata:
  name: {}
spec:
{output}  # The Kubernetes version of every cluster that does not say its own
  # (a kustomize layout does not say it): set each cluster's in clusters/.
  kubernetesVersion: {}
",
            overlays.join(", "),
            opts.fleet_name,
            quote(&opts.kubernetes_version)
        ),
    )
}

/// Namespaces a cluster's objects use that none of them creates, and
/// custom kinds none of its CRDs defines: the layout assumed the cluster
/// has them.
fn assumed(layout: &Layout, c: &super::Cluster) -> (Vec<String>, Vec<String>) {
    let mut used = BTreeSet::new();
    let mut made = BTreeSet::new();
    let mut kinds = BTreeSet::new();
    let mut defined = BTreeSet::new();
    for &i in &c.components {
        let comp = &layout.components[i];
        if let (Some(ns), None) = (&comp.namespace, &c.namespace) {
            used.insert(ns.clone());
        }
        defined.extend(comp.defines_kinds.iter().cloned());
        for o in &comp.objects {
            // Where the object ends up: the overlay's namespace, else its base's, else its own.
            if super::namespaced(&o.api_version, &o.kind, &comp.cluster_kinds) {
                let ns = c
                    .namespace
                    .as_ref()
                    .or(comp.namespace.as_ref())
                    .or(o.namespace.as_ref());
                used.extend(ns.cloned());
            }
            if o.kind == "Namespace" {
                made.insert(c.namespace.clone().unwrap_or_else(|| o.name.clone()));
            }
            if !crate::kube::api::is_built_in(&o.api_version, &o.kind) {
                let group = o.api_version.split_once('/').map_or("", |(g, _)| g);
                kinds.insert(format!("{}.{group}", o.kind));
            }
        }
    }
    let namespaces = used
        .into_iter()
        .filter(|n| !made.contains(n) && !BUILT_IN_NAMESPACES.contains(&n.as_str()))
        .collect();
    let kinds = kinds.into_iter().filter(|k| !defined.contains(k)).collect();
    (namespaces, kinds)
}

fn cluster(layout: &Layout, c: &super::Cluster) -> String {
    let (namespaces, kinds) = assumed(layout, c);
    let mut spec = String::new();
    if !namespaces.is_empty() {
        spec.push_str(&format!(
            "  # Namespaces its objects use that none of them creates: the overlay\n  # assumed the cluster has them.\n  existingNamespaces: {}\n",
            flow_list(&namespaces)
        ));
    }
    if !kinds.is_empty() {
        spec.push_str(&format!(
            "  # Custom resource kinds it uses whose CRDs the overlay does not install.\n  existingKinds: {}\n",
            flow_list(&kinds)
        ));
    }
    let spec = if spec.is_empty() {
        "spec: {}\n".to_string()
    } else {
        format!("spec:\n{spec}")
    };
    with_schema(
        "cluster",
        1,
        &format!(
            "# From the overlay {}.\napiVersion: fleetc.dev/v1alpha1\nkind: Cluster\nmetadata:\n  name: {}\n{spec}",
            c.dir, c.name
        ),
    )
}

fn component(comp: &super::Component) -> String {
    let mut spec = String::new();
    if let Some(ns) = &comp.namespace {
        spec.push_str(&format!("  namespace: {}\n", quote(ns)));
        if !comp.renders_namespace {
            spec.push_str("  # The base does not create its namespace: the clusters have it.\n  createNamespace: false\n");
        }
    }
    if comp
        .objects
        .iter()
        .any(|o| o.kind == "Secret" && o.api_version == "v1")
    {
        spec.push_str("  # The layout kept these Secrets' values in plain files, so does this\n  # component for now: encrypt them with SOPS, then drop this line.\n  allowPlaintextSecrets: true\n");
    }
    let spec = if spec.is_empty() {
        "spec: {}\n".to_string()
    } else {
        format!("spec:\n{spec}")
    };
    with_schema(
        "component",
        2,
        &format!(
            "# From {} (its resources are under templates/, as they were).\napiVersion: fleetc.dev/v1alpha1\nkind: Component\nmetadata:\n  name: {}\n{spec}",
            comp.from, comp.name
        ),
    )
}

/// Where a change's file goes, and the entry naming it.
struct Entries<'o> {
    comp: String,
    out: &'o mut BTreeMap<String, Vec<u8>>,
}

impl Entries<'_> {
    /// Write `changes` under `patches/<component>/<dir>/`; their entries.
    fn write(&mut self, dir: &str, changes: &[Change], indent: &str) -> String {
        let mut text = String::new();
        let mut used: BTreeSet<String> = BTreeSet::new();
        for ch in changes {
            let mut name = ch.file_name.clone();
            let (stem, ext) = name
                .rsplit_once('.')
                .map_or((name.clone(), String::new()), |(s, e)| {
                    (s.to_string(), format!(".{e}"))
                });
            let mut n = 2;
            while !used.insert(name.clone()) {
                name = format!("{stem}-{n}{ext}");
                n += 1;
            }
            let rel = format!("patches/{}/{dir}/{name}", self.comp);
            self.out.insert(rel.clone(), ch.bytes.clone());
            text.push_str(&format!("{indent}- path: ../{rel}\n"));
            if let Some(t) = &ch.target {
                let mut fields = Vec::new();
                for (key, v) in ["group", "version", "kind", "name"].iter().zip(t) {
                    if let Some(v) = v {
                        fields.push(format!("{key}: {}", quote(v)));
                    }
                }
                text.push_str(&format!("{indent}  target: {{{}}}\n", fields.join(", ")));
            }
        }
        text
    }
}

/// The patch entries of one placement as (clusters, changes), in order:
/// each cluster, matching the entries that name it, sees exactly its own
/// changes in its own order. Greedy: the next change shared by the most
/// clusters becomes the next entry, one that other clusters reach later
/// waiting for them (the first cluster's on a tie); entries in a row for
/// the same clusters are joined.
fn entries<'c>(names: &[&'c str], seqs: &[&'c [Change]]) -> Vec<(Vec<&'c str>, Vec<&'c Change>)> {
    let mut at = vec![0usize; seqs.len()];
    let mut out: Vec<(Vec<&str>, Vec<&Change>)> = Vec::new();
    loop {
        // Rank: clusters it is next for, then whether no other cluster
        // still has it further on (such a change waits for them).
        let mut best: Option<((usize, bool), &Change)> = None;
        for (i, s) in seqs.iter().enumerate() {
            let Some(next) = s.get(at[i]) else { continue };
            let n = (0..seqs.len())
                .filter(|&j| seqs[j].get(at[j]) == Some(next))
                .count();
            let later = (0..seqs.len()).any(|j| {
                seqs[j].get(at[j]) != Some(next)
                    && seqs[j].get(at[j]..).is_some_and(|r| r.contains(next))
            });
            let rank = (n, !later);
            if best.is_none_or(|(m, _)| rank > m) {
                best = Some((rank, next));
            }
        }
        let Some((_, change)) = best else { break };
        let who: Vec<usize> = (0..seqs.len())
            .filter(|&j| seqs[j].get(at[j]) == Some(change))
            .collect();
        for &j in &who {
            at[j] += 1;
        }
        let clusters: Vec<&str> = who.iter().map(|&j| names[j]).collect();
        match out.last_mut() {
            Some((c, changes)) if *c == clusters => changes.push(change),
            _ => out.push((clusters, vec![change])),
        }
    }
    out
}

fn placement(
    i: usize,
    comp: &super::Component,
    on: &[&super::Cluster],
    groups: &mut Groups,
    out: &mut BTreeMap<String, Vec<u8>>,
) {
    let seqs: Vec<&[Change]> = on
        .iter()
        .map(|c| c.changes.get(&i).map_or(&[][..], Vec::as_slice))
        .collect();
    let names: Vec<&str> = on.iter().map(|c| c.name.as_str()).collect();
    let mut entries = entries(&names, &seqs).into_iter().peekable();
    let all: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    let mut e = Entries {
        comp: comp.name.clone(),
        out,
    };
    let mut text = format!(
        "apiVersion: fleetc.dev/v1alpha1\nkind: Placement\nmetadata:\n  name: {}\nspec:\n  component: {}\n  target:\n    clusters: {}\n",
        comp.name,
        comp.name,
        flow_list(&all)
    );
    if let Some((_, first)) = entries.next_if(|(c, _)| c.len() == names.len()) {
        let first: Vec<Change> = first.into_iter().cloned().collect();
        text.push_str("  # What every overlay changes first, in kustomize's order.\n  patches:\n");
        text.push_str(&e.write("all", &first, "    "));
    }
    let rest: Vec<_> = entries.collect();
    if !rest.is_empty() {
        text.push_str("  # Then what some overlays change, in each one's order: a cluster\n  # matches the targets that name it, and they apply in list order.\n  targets:\n");
        let mut taken = BTreeSet::new();
        for (clusters, changes) in rest {
            // One cluster: named; several: the group of them.
            let (mut name, target) = match clusters.as_slice() {
                // Every cluster, after changes only some make.
                all if all.len() == names.len() => {
                    ("every-cluster".to_string(), "{all: true}".to_string())
                }
                [one] => (one.to_string(), format!("{{clusters: [{}]}}", quote(one))),
                _ => {
                    let g = groups.of(&clusters);
                    (g.clone(), format!("{{groups: [{}]}}", quote(&g)))
                }
            };
            let stem = name.clone();
            let mut n = 2;
            while !taken.insert(name.clone()) {
                name = format!("{stem}-{n}");
                n += 1;
            }
            text.push_str(&format!(
                "    - name: {}\n      target: {target}\n      patches:\n",
                quote(&name)
            ));
            let changes: Vec<Change> = changes.into_iter().cloned().collect();
            text.push_str(&e.write(&name, &changes, "        "));
        }
    }
    let text = with_schema("placement", 1, &text);
    e.out
        .insert(format!("placements/{}.yaml", comp.name), text.into_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ch(name: &str) -> Change {
        Change {
            file_name: name.into(),
            bytes: name.as_bytes().to_vec(),
            target: None,
        }
    }

    /// Each cluster, taking the entries that name it in order, sees its
    /// own sequence; shared changes are shared where order allows.
    #[test]
    fn entries_keep_every_clusters_order() {
        let cases: Vec<Vec<Vec<&str>>> = vec![
            vec![vec!["a", "b"], vec!["a", "c", "b"], vec!["a"]],
            vec![vec!["x", "y"], vec!["y", "x"]],
            vec![vec!["m", "img"], vec!["d", "p", "r", "img"]],
            vec![vec![], vec!["a"], vec!["a", "a"]],
        ];
        for case in cases {
            let seqs: Vec<Vec<Change>> = case
                .iter()
                .map(|s| s.iter().map(|n| ch(n)).collect())
                .collect();
            let names: Vec<String> = (0..seqs.len()).map(|i| format!("c{i}")).collect();
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            let slices: Vec<&[Change]> = seqs.iter().map(Vec::as_slice).collect();
            let got = entries(&names, &slices);
            for (i, want) in seqs.iter().enumerate() {
                let seen: Vec<Change> = got
                    .iter()
                    .filter(|(c, _)| c.contains(&names[i]))
                    .flat_map(|(_, changes)| changes.iter().map(|c| (*c).clone()))
                    .collect();
                assert_eq!(&seen, want, "{case:?}, cluster {i}");
            }
        }
        let seqs = [vec![ch("m"), ch("img")], vec![ch("d"), ch("img")]];
        let slices: Vec<&[Change]> = seqs.iter().map(Vec::as_slice).collect();
        let got = entries(&["s", "p"], &slices);
        assert_eq!(got.last().map(|(c, _)| c.clone()), Some(vec!["s", "p"]));
    }
}
