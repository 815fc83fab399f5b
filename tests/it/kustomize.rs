//! The rendered tree is checked by real kustomize: `kubectl kustomize` must
//! build every cluster directory, every `flux/` directory and every directory
//! an emitted Flux `Kustomization` or Argo CD `Application` points at, and
//! produce exactly the objects fleetc wrote there (same set, compared as data).
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use fleetc::diag::Source;
use fleetc::yaml::{parse_documents, Budget};

use crate::common::*;

/// Key-sorted JSON of every document in `text`.
fn objects(name: &str, text: &str) -> Vec<String> {
    let docs = parse_documents(&Source::new(name, text), &Budget::default())
        .unwrap_or_else(|e| panic!("{name}: cannot parse: {}", e.message));
    let mut v: Vec<String> = docs.iter().map(|d| canonical(&d.to_json())).collect();
    v.sort();
    v
}

pub fn kubectl() -> String {
    let k = std::env::var("KUBECTL").unwrap_or_else(|_| "kubectl".into());
    let ok = Command::new(&k)
        .args(["version", "--client"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "`{k}` (with kustomize v5) is required for this test and was not found; \
         run `cargo xtask test`, which checks for it and says what to install"
    );
    k
}

fn check_cluster(k: &str, dir: &Path) {
    let o = Command::new(k)
        .arg("kustomize")
        .arg(dir)
        .output()
        .expect("run kubectl");
    assert!(
        o.status.success(),
        "kubectl kustomize {} failed:\n{}",
        dir.display(),
        text(&o.stderr)
    );
    let built = objects("kustomize output", &text(&o.stdout));
    let mut ours = Vec::new();
    for (p, bytes) in read_tree(dir) {
        // A cluster's flux/ has its own kustomization.yaml, applied by the root Kustomization;
        // a chart kept in the fleet (`<unit>/chart/`) is Helm's to build, not kustomize's.
        if !p.ends_with("kustomization.yaml") && !p.starts_with("flux/") && !is_chart_file(&p) {
            ours.extend(objects(&p, &text(&bytes)));
        }
    }
    ours.sort();
    assert_eq!(
        built.len(),
        ours.len(),
        "{}: kustomize built {} objects, fleetc wrote {}",
        dir.display(),
        built.len(),
        ours.len()
    );
    for (a, b) in built.iter().zip(&ours) {
        assert_eq!(
            a,
            b,
            "{}: kustomize output differs from the rendered files",
            dir.display()
        );
    }
}

#[test]
fn kustomize_builds_every_cluster_to_the_same_objects() {
    let k = kubectl();
    for tree in golden_trees() {
        let clusters: Vec<_> = std::fs::read_dir(tree.join("clusters"))
            .expect("clusters/")
            .flatten()
            .collect();
        assert!(!clusters.is_empty());
        for c in clusters {
            check_cluster(&k, &c.path());
            let flux = c.path().join("flux");
            if flux.is_dir() {
                check_cluster(&k, &flux);
            }
        }
    }
}

/// Directories (relative to the tree) that emitted agent objects point at.
fn agent_paths(tree: &Path) -> BTreeSet<String> {
    let mut dirs = BTreeSet::new();
    for (p, bytes) in read_tree(tree) {
        if !(p.starts_with("bootstrap/") || p.starts_with("argocd/") || p.contains("/flux/")) {
            continue;
        }
        let docs = parse_documents(&Source::new(p.as_str(), text(&bytes)), &Budget::default())
            .unwrap_or_else(|e| panic!("{p}: {}", e.message));
        for d in docs {
            let kind = d.get("kind").and_then(|n| n.as_str()).unwrap_or_default();
            let api = d
                .get("apiVersion")
                .and_then(|n| n.as_str())
                .unwrap_or_default();
            let path = match (api, kind) {
                ("kustomize.toolkit.fluxcd.io/v1", "Kustomization") => {
                    d.get_path(&["spec", "path"])
                }
                ("argoproj.io/v1alpha1", "Application") => {
                    let src = d.get_path(&["spec", "source"]).expect("source");
                    // Helm sources name a chart (or a chart's directory), not a
                    // directory of manifests.
                    let from_git = src.get("chart").is_none()
                        && src.get("helm").is_none()
                        && !src
                            .get("repoURL")
                            .and_then(|r| r.as_str())
                            .unwrap_or_default()
                            .starts_with("oci://");
                    if from_git {
                        src.get("path")
                    } else {
                        None
                    }
                }
                _ => None,
            };
            if let Some(path) = path.and_then(|n| n.as_str()) {
                dirs.insert(
                    path.trim_start_matches("./")
                        .trim_end_matches('/')
                        .to_string(),
                );
            }
        }
    }
    dirs
}

#[test]
fn kustomize_builds_every_directory_an_agent_applies() {
    let k = kubectl();
    let mut checked = 0;
    for tree in golden_trees() {
        let dirs = agent_paths(&tree);
        let format = tree
            .file_name()
            .expect("format")
            .to_string_lossy()
            .into_owned();
        match format.as_str() {
            "plain" => assert!(dirs.is_empty(), "plain format emits no agent objects"),
            "flux" => {
                // The root Kustomization of every cluster reaches its flux/ directory.
                for c in std::fs::read_dir(tree.join("clusters"))
                    .expect("clusters/")
                    .flatten()
                {
                    let flux = format!("clusters/{}/flux", c.file_name().to_string_lossy());
                    assert!(dirs.contains(&flux), "no Kustomization points at {flux}");
                }
            }
            _ => assert!(
                dirs.contains("argocd"),
                "the root Application points at argocd/"
            ),
        }
        for rel in dirs {
            let dir = tree.join(&rel);
            assert!(
                dir.is_dir(),
                "{}: an agent points at {rel}, which does not exist",
                tree.display()
            );
            if dir.join("kustomization.yaml").is_file() {
                check_cluster(&k, &dir);
            } else {
                // A plain directory of manifests (the root Application's argocd/): build it
                // the way Flux would, with a kustomization.yaml listing every file.
                let tmp = tempfile::tempdir().expect("tempdir");
                copy_dir(&dir, tmp.path());
                let files: Vec<String> = read_tree(tmp.path()).into_keys().collect();
                let mut k8s = String::from("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n");
                for f in &files {
                    k8s.push_str(&format!("- {f}\n"));
                }
                std::fs::write(tmp.path().join("kustomization.yaml"), k8s).expect("write");
                check_cluster(&k, tmp.path());
            }
            checked += 1;
        }
    }
    assert!(checked > 100, "only {checked} agent directories checked");
}
