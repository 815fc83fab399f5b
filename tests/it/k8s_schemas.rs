//! fleetc's Kubernetes API check (`fleetc::kube::api::validate`, on the
//! embedded data/k8s-schemas/) against an independent validator:
//! kubernetes-validate (PyPI; the same upstream definitions, run through
//! Python's jsonschema), found through `KUBERNETES_VALIDATE` (set by
//! `cargo xtask test`) or PATH, with `--strict`.
//!
//! Every built-in object (an apiVersion and kind the data knows; Flux, Argo
//! CD and other custom resources are skipped) in every golden tree, at
//! Kubernetes 1.29 and 1.33, must get the same verdict from both, and so
//! must mutations of golden Deployments: a misspelt field, a wrong type and
//! a removed required field, which both must reject.
//!
//! Where they cannot agree, by design, the test says so and narrows it:
//! - Duplicate keys in `x-kubernetes-list-type: map` lists (two containers
//!   with one name) and duplicate entries in `set` lists: the API server
//!   refuses them; kubernetes-validate is a plain JSON Schema validator and
//!   ignores the `x-kubernetes-*` list extensions. The duplicate-container
//!   mutation must be rejected by fleetc only, and only from 1.30: before,
//!   the definitions do not mark `PodSpec.containers` as a map list (only
//!   with the patch merge key), and fleetc checks what the schema says (the
//!   API server's Go validation refuses the duplicate name in every minor,
//!   which is not schema and not checked here).
//! - Formats (`byte`, `date-time`, `int32`, `int64`): kubernetes-validate
//!   runs jsonschema without a format checker, fleetc checks them as the
//!   API server decodes them. No golden object and no mutation here touches
//!   a format, so the verdicts still agree; the unit tests in
//!   src/kube/api_tests.rs cover formats.
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use fleetc::diag::Source;
use fleetc::kube::api;
use fleetc::yaml::{parse_documents, Budget};
use serde_json::{json, Value as Json};

use crate::common::*;

const MINORS: [u32; 2] = [29, 33];

/// Every distinct built-in object of the golden trees, and the
/// CustomResourceDefinitions the example fleet declares (`crds/`).
fn golden_objects() -> Vec<Json> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    let trees = golden_trees()
        .into_iter()
        .chain([root().join("examples/fleet-repo/crds")]);
    for tree in trees {
        for (p, bytes) in read_tree(&tree) {
            if !p.ends_with(".yaml") || is_chart_file(&p) {
                continue;
            }
            let docs = parse_documents(&Source::new(p.as_str(), text(&bytes)), &Budget::default())
                .unwrap_or_else(|e| panic!("{p}: {}", e.message));
            for d in docs {
                let j = d.to_json();
                let api = j["apiVersion"].as_str().unwrap_or_default();
                let kind = j["kind"].as_str().unwrap_or_default();
                if api::is_built_in(api, kind) && seen.insert(j.to_string()) {
                    out.push(j);
                }
            }
        }
    }
    out
}

/// One mutation of a Deployment, and whether kubernetes-validate can see it.
struct Mutant {
    what: &'static str,
    object: Json,
    independent_rejects: bool,
    /// The first minor whose schema makes fleetc reject it.
    fleetc_rejects_from: u32,
}

fn mutants(deployments: &[&Json]) -> Vec<Mutant> {
    let mut out = Vec::new();
    for d in deployments {
        let c0 = d["spec"]["template"]["spec"]["containers"][0].clone();
        let mut m = (*d).clone();
        let c = m["spec"]["template"]["spec"]["containers"][0]
            .as_object_mut()
            .expect("a container");
        let image = c.shift_remove("image").unwrap_or(json!("x"));
        c.insert("imgae".into(), image);
        out.push(Mutant {
            what: "misspelt containers[0].image",
            object: m,
            independent_rejects: true,
            fleetc_rejects_from: 25,
        });

        let mut m = (*d).clone();
        m["spec"]["replicas"] = json!("3");
        out.push(Mutant {
            what: "replicas as a string",
            object: m,
            independent_rejects: true,
            fleetc_rejects_from: 25,
        });

        let mut m = (*d).clone();
        m["spec"]["template"]["spec"]["containers"][0]
            .as_object_mut()
            .expect("a container")
            .shift_remove("name");
        out.push(Mutant {
            what: "container without a name",
            object: m,
            independent_rejects: true,
            fleetc_rejects_from: 25,
        });

        let mut m = (*d).clone();
        m["spec"]["template"]["spec"]["containers"]
            .as_array_mut()
            .expect("containers")
            .push(c0);
        // kubernetes-validate ignores x-kubernetes-list-type (see the top).
        out.push(Mutant {
            what: "duplicate container name",
            object: m,
            independent_rejects: false,
            fleetc_rejects_from: 30,
        });
    }
    out
}

/// The files kubernetes-validate rejects at 1.`minor` (one process for all).
fn independent_rejects(bin: &str, dir: &Path, files: &[String], minor: u32) -> BTreeSet<String> {
    let o = Command::new(bin)
        .args(["--strict", "--quiet", "-k", &format!("1.{minor}.0")])
        .args(files)
        .current_dir(dir)
        .output()
        .expect("run kubernetes-validate");
    let out = text(&o.stdout);
    let mut rejected = BTreeSet::new();
    for line in out.lines() {
        if let Some(rest) = line.strip_prefix("ERROR ") {
            let file = rest.split(' ').next().unwrap_or_default();
            assert!(
                rest.contains(" did not validate "),
                "kubernetes-validate could not check {file}: {line}"
            );
            rejected.insert(file.to_string());
        } else if let Some(rest) = line
            .strip_prefix("WARN ")
            .filter(|r| r.contains("Couldn't find schema for kind"))
        {
            // No schema for this version: the version does not serve it, and
            // its API server would refuse it (fleetc says NotServed).
            rejected.insert(rest.split(' ').next().unwrap_or_default().to_string());
        } else {
            assert!(
                !line.starts_with("WARN") && !line.starts_with("FATAL"),
                "{line}"
            );
        }
    }
    rejected
}

#[test]
fn kubernetes_api_check_agrees_with_kubernetes_validate() {
    let bin = tool("KUBERNETES_VALIDATE", "kubernetes-validate");
    let objects = golden_objects();
    let deployments: Vec<&Json> = objects
        .iter()
        .filter(|o| o["kind"] == "Deployment")
        .take(3)
        .collect();
    assert!(!deployments.is_empty(), "no Deployment in the golden trees");
    let mutants = mutants(&deployments);
    let kinds: BTreeSet<String> = objects
        .iter()
        .map(|o| {
            format!(
                "{} {}",
                o["apiVersion"].as_str().unwrap(),
                o["kind"].as_str().unwrap()
            )
        })
        .collect();

    let tmp = tempfile::tempdir().expect("tempdir");
    let all: Vec<&Json> = objects
        .iter()
        .chain(mutants.iter().map(|m| &m.object))
        .collect();
    let mut files = Vec::new();
    for (i, o) in all.iter().enumerate() {
        let name = format!("o{i:05}.json");
        std::fs::write(tmp.path().join(&name), o.to_string()).expect("write object");
        files.push(name);
    }
    let mut compared = 0;
    let mut disagreements = Vec::new();
    for minor in MINORS {
        // An object that this minor does not serve (the example's flowcontrol
        // v1beta3 FlowSchema on 1.33) is rejected by both: kubernetes-validate
        // has no schema for it, fleetc reports it as not served.
        let rejected = independent_rejects(&bin, tmp.path(), &files, minor);
        for (i, o) in all.iter().enumerate() {
            let ours = api::validate(minor, o);
            let theirs = rejected.contains(&files[i]);
            let mutant = i.checked_sub(objects.len()).map(|m| &mutants[m]);
            let expected_theirs = mutant.is_none_or(|m| m.independent_rejects);
            let what = mutant.map_or("golden object", |m| m.what);
            let expected_ours = mutant.is_some_and(|m| minor >= m.fleetc_rejects_from);
            if mutant.is_some() && (ours.is_empty() == expected_ours || theirs != expected_theirs) {
                disagreements.push(format!(
                    "1.{minor} {} ({what}): fleetc {ours:?}, kubernetes-validate rejects: {theirs}",
                    files[i]
                ));
            } else if mutant.is_none() && ours.is_empty() == theirs {
                disagreements.push(format!(
                    "1.{minor} {} {} {}: fleetc {:?}, kubernetes-validate rejects: {theirs}",
                    files[i],
                    o["kind"],
                    o["metadata"]["name"],
                    ours.iter().map(ToString::to_string).collect::<Vec<_>>()
                ));
            }
            compared += 1;
        }
    }
    println!(
        "{} golden objects ({} kinds: {:?}) and {} mutants × {} minors: {compared} compared, {} disagree",
        objects.len(),
        kinds.len(),
        kinds,
        mutants.len(),
        MINORS.len(),
        disagreements.len()
    );
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n"));
}
