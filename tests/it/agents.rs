//! The dependsOn graph in what the agents read: Flux `dependsOn` only names
//! Kustomizations present on the same cluster (anything else is a validate
//! error naming the placement), `wait` is set exactly on what others wait
//! for, and Argo CD sync waves put every dependency in an earlier wave.
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use fleetc::diag::Source;
use fleetc::yaml::{parse_documents, Budget};
use serde_json::Value as Json;

use crate::common::*;

fn docs(path: &Path) -> Vec<Json> {
    let t = std::fs::read_to_string(path).expect("read");
    parse_documents(&Source::new(path.to_string_lossy(), t), &Budget::default())
        .expect("parse")
        .iter()
        .map(|d| d.to_json())
        .collect()
}

/// dependsOn of every component and policy of an example, from its own files.
fn graph(repo: &Path) -> BTreeMap<String, Vec<String>> {
    let fs = fleetc::source::read_dir(repo, &Default::default()).expect("read repo");
    let (loaded, diags) = fleetc::load::load(&fs, &Budget::default());
    assert!(!diags.has_errors());
    loaded
        .units
        .iter()
        .map(|u| {
            (
                u.name.clone(),
                u.depends_on.iter().map(|d| d.name.clone()).collect(),
            )
        })
        .collect()
}

#[test]
fn flux_dependencies_are_on_the_same_cluster_and_waited_for() {
    let repo = root().join("examples/fleet-repo");
    let g = graph(&repo);
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = render(&repo, tmp.path(), &["--format", "flux"]);
    let mut edges = 0;
    for c in std::fs::read_dir(out.join("clusters"))
        .expect("clusters")
        .flatten()
    {
        let flux = c.path().join("flux/flux-system");
        let mut ks: BTreeMap<String, Json> = BTreeMap::new();
        for f in std::fs::read_dir(&flux).expect("flux/").flatten() {
            for d in docs(&f.path()) {
                ks.insert(d["metadata"]["name"].as_str().expect("name").into(), d);
            }
        }
        let mut waited: BTreeSet<String> = BTreeSet::new();
        for (name, k) in &ks {
            let deps: Vec<String> = k["spec"]["dependsOn"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|d| d["name"].as_str().expect("dep").into())
                        .collect()
                })
                .unwrap_or_default();
            assert_eq!(
                deps, g[name],
                "{name}: dependsOn differs from the component's"
            );
            for d in deps {
                assert!(
                    ks.contains_key(&d),
                    "{}: {name} depends on {d}, which is not on this cluster",
                    c.path().display()
                );
                waited.insert(d);
                edges += 1;
            }
        }
        for (name, k) in &ks {
            assert_eq!(
                k["spec"]["wait"].as_bool().unwrap_or(false),
                waited.contains(name),
                "{name}: wait must be set exactly when another Kustomization depends on it"
            );
        }
    }
    assert!(
        edges > 20,
        "the example has dependencies to check ({edges})"
    );
}

#[test]
fn argocd_sync_waves_put_dependencies_first() {
    let repo = root().join("examples/fleet-repo");
    let g = graph(&repo);
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = render(&repo, tmp.path(), &["--format", "argocd"]);
    let mut edges = 0;
    for c in std::fs::read_dir(out.join("argocd"))
        .expect("argocd/")
        .flatten()
    {
        let mut wave: BTreeMap<String, i64> = BTreeMap::new();
        for f in std::fs::read_dir(c.path()).expect("apps").flatten() {
            let unit = f
                .path()
                .file_stem()
                .expect("stem")
                .to_string_lossy()
                .into_owned();
            let app = &docs(&f.path())[0];
            let w = app["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"]
                .as_str()
                .expect("sync-wave is a string annotation");
            wave.insert(unit, w.parse().expect("integer wave"));
        }
        for (unit, w) in &wave {
            if g[unit].is_empty() {
                assert_eq!(*w, 0, "{unit} has no dependencies: wave 0");
            }
            for d in &g[unit] {
                let dw = wave
                    .get(d)
                    .unwrap_or_else(|| panic!("{unit} depends on {d}, absent"));
                assert!(dw < w, "{unit} (wave {w}) must sync after {d} (wave {dw})");
                edges += 1;
            }
        }
    }
    assert!(edges > 20);
}

/// Taking a dependency off some clusters is caught by `validate`, naming the
/// placement (or policy) that still puts the dependent there.
#[test]
fn a_dependency_missing_on_a_cluster_is_a_validate_error() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let repo = tmp.path().join("repo");
    copy_dir(&root().join("examples/fleet-repo"), &repo);
    let p = repo.join("placements/kyverno.yaml");
    let placement = std::fs::read_to_string(&p).expect("read");
    std::fs::write(
        &p,
        placement.replace(
            "target: {all: true}",
            "target: {all: true, excludeClusters: [staging-eu-west]}",
        ),
    )
    .expect("write");
    let o = fleetc(&["--color", "never", "validate", "repo"], tmp.path());
    let err = text(&o.stderr);
    assert_eq!(code(&o), 2, "{err}");
    assert!(
        err.contains("placement `kyverno-policies` puts `kyverno-policies` on a cluster where `kyverno`, which it depends on, is not placed: staging-eu-west"),
        "{err}"
    );
    assert!(
        err.contains("policy `pod-security-baseline` applies to a cluster where `kyverno`"),
        "{err}"
    );
}
