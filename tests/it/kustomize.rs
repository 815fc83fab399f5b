//! The rendered tree is checked by real kustomize: `kubectl kustomize` must
//! build every cluster directory, and produce exactly the objects fleetc
//! wrote (same set, compared as data).
use std::path::Path;
use std::process::Command;

use fleetc::diag::Source;
use fleetc::load::yaml::{parse_documents, Budget};

use crate::common::*;

/// Key-sorted JSON of every document in `text`.
fn objects(name: &str, text: &str) -> Vec<String> {
    let docs = parse_documents(&Source::new(name, text), &Budget::default())
        .unwrap_or_else(|e| panic!("{name}: cannot parse: {}", e.message));
    let mut v: Vec<String> = docs.iter().map(|d| canonical(&d.to_json())).collect();
    v.sort();
    v
}

fn canonical(v: &serde_json::Value) -> String {
    fn sort(v: &serde_json::Value) -> serde_json::Value {
        match v {
            serde_json::Value::Object(m) => {
                let sorted: std::collections::BTreeMap<_, _> =
                    m.iter().map(|(k, x)| (k.clone(), sort(x))).collect();
                serde_json::to_value(sorted).expect("json")
            }
            serde_json::Value::Array(a) => serde_json::Value::Array(a.iter().map(sort).collect()),
            x => x.clone(),
        }
    }
    sort(v).to_string()
}

pub fn kubectl() -> String {
    let k = std::env::var("KUBECTL").unwrap_or_else(|_| "kubectl".into());
    let ok = Command::new(&k)
        .args(["version", "--client"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(ok, "`{k}` (with kustomize v5) is required for this test and was not found; .ci/run checks for it");
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
        if !p.ends_with("kustomization.yaml") {
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
    for (_, path) in examples() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let out = render(&path, tmp.path(), &[]);
        let clusters: Vec<_> = std::fs::read_dir(out.join("clusters"))
            .expect("clusters/")
            .flatten()
            .collect();
        assert!(!clusters.is_empty());
        for c in clusters {
            check_cluster(&k, &c.path());
        }
    }
}
