//! Every Flux and Argo CD object fleetc emits validates against the official
//! CRDs of those projects (copies in ../shared/crds/, sources in SOURCES.md),
//! in every golden tree (which golden.rs proves equal to fresh renders):
//! the `openAPIV3Schema` of the served version, read as JSON Schema.
//!
//! The API server prunes unknown fields silently, but `kubectl apply` (strict
//! field validation) and Flux/Argo CD's server-side apply reject them; so every
//! object schema that lists `properties` and neither allows additional ones
//! nor preserves unknown fields is closed here (`additionalProperties: false`),
//! and a misspelt field fails the test.
use std::collections::BTreeMap;
use std::path::Path;

use fleetc::diag::Source;
use fleetc::yaml::{parse_documents, Budget};
use serde_json::{json, Value as Json};

use crate::common::*;

fn crd_dir() -> std::path::PathBuf {
    root().join("../shared/crds")
}

/// (apiVersion, kind) → compiled schema, for every CRD version in ../shared/crds.
fn schemas() -> BTreeMap<(String, String), jsonschema::Validator> {
    let mut out = BTreeMap::new();
    let dir = crd_dir();
    for e in std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
    {
        let p = e.path();
        if p.extension().is_none_or(|x| x != "yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&p).expect("read CRD");
        let budget = Budget {
            max_nodes: 10_000_000,
            ..Budget::default()
        };
        let docs = parse_documents(&Source::new(p.to_string_lossy(), text), &budget)
            .unwrap_or_else(|e| panic!("{}: {}", p.display(), e.message));
        for d in docs {
            let crd = d.to_json();
            if crd["kind"] != "CustomResourceDefinition" {
                continue;
            }
            let group = crd["spec"]["group"].as_str().expect("group").to_string();
            let kind = crd["spec"]["names"]["kind"]
                .as_str()
                .expect("kind")
                .to_string();
            for v in crd["spec"]["versions"].as_array().expect("versions") {
                let name = v["name"].as_str().expect("version name");
                let mut schema = v["schema"]["openAPIV3Schema"].clone();
                close_objects(&mut schema);
                let validator = jsonschema::draft202012::new(&schema)
                    .unwrap_or_else(|e| panic!("{group}/{name} {kind}: {e}"));
                out.insert((format!("{group}/{name}"), kind.clone()), validator);
            }
        }
    }
    out
}

/// Strict field validation: object schemas with `properties` accept nothing else.
fn close_objects(s: &mut Json) {
    match s {
        Json::Object(m) => {
            let preserve = m
                .get("x-kubernetes-preserve-unknown-fields")
                .and_then(Json::as_bool)
                .unwrap_or(false);
            if m.contains_key("properties") && !m.contains_key("additionalProperties") && !preserve
            {
                m.insert("additionalProperties".into(), json!(false));
            }
            for v in m.values_mut() {
                close_objects(v);
            }
        }
        Json::Array(a) => a.iter_mut().for_each(close_objects),
        _ => {}
    }
}

/// Problems of one object, or None when no CRD describes it.
fn problems(
    schemas: &BTreeMap<(String, String), jsonschema::Validator>,
    obj: &Json,
) -> Option<Vec<String>> {
    let api = obj["apiVersion"].as_str()?.to_string();
    let kind = obj["kind"].as_str()?.to_string();
    let v = schemas.get(&(api, kind))?;
    let mut errs: Vec<String> = v
        .iter_errors(obj)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    // metadata is `type: object` in every CRD; the API server checks names.
    let name = obj["metadata"]["name"].as_str().unwrap_or_default();
    let dns_subdomain = !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|l| {
            !l.is_empty()
                && l.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        });
    if !dns_subdomain {
        errs.push(format!("metadata.name {name:?} is not a DNS subdomain"));
    }
    Some(errs)
}

fn objects_of(path: &Path) -> Vec<(String, Json)> {
    let mut out = Vec::new();
    for (p, bytes) in read_tree(path) {
        if !p.ends_with(".yaml") {
            continue;
        }
        let docs = parse_documents(&Source::new(p.as_str(), text(&bytes)), &Budget::default())
            .unwrap_or_else(|e| panic!("{p}: {}", e.message));
        out.extend(docs.into_iter().map(|d| (p.clone(), d.to_json())));
    }
    out
}

#[test]
fn every_emitted_flux_and_argocd_object_matches_its_crd() {
    let schemas = schemas();
    for want in [
        ("kustomize.toolkit.fluxcd.io/v1", "Kustomization"),
        ("helm.toolkit.fluxcd.io/v2", "HelmRelease"),
        ("source.toolkit.fluxcd.io/v1", "GitRepository"),
        ("source.toolkit.fluxcd.io/v1", "HelmRepository"),
        ("argoproj.io/v1alpha1", "Application"),
    ] {
        assert!(
            schemas.contains_key(&(want.0.to_string(), want.1.to_string())),
            "no CRD for {want:?} in {}",
            crd_dir().display()
        );
    }
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    let mut failures = Vec::new();
    for tree in golden_trees() {
        let name = tree
            .strip_prefix(root().join("golden"))
            .expect("golden/")
            .display()
            .to_string();
        for (p, obj) in objects_of(&tree) {
            if let Some(errs) = problems(&schemas, &obj) {
                let kind = format!(
                    "{} {}",
                    obj["apiVersion"].as_str().unwrap_or(""),
                    obj["kind"].as_str().unwrap_or("")
                );
                *counts.entry(kind).or_default() += 1;
                failures.extend(errs.into_iter().map(|e| format!("{name}/{p}: {e}")));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} objects fail their CRD schema:\n{}",
        failures.len(),
        failures
            .iter()
            .take(30)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    // Every kind was emitted and checked, so this test can fail.
    for k in [
        "kustomize.toolkit.fluxcd.io/v1 Kustomization",
        "helm.toolkit.fluxcd.io/v2 HelmRelease",
        "source.toolkit.fluxcd.io/v1 GitRepository",
        "source.toolkit.fluxcd.io/v1 HelmRepository",
        "argoproj.io/v1alpha1 Application",
    ] {
        assert!(
            counts.get(k).is_some_and(|n| *n > 0),
            "no {k} was checked: {counts:?}"
        );
    }
}

/// The check is not vacuous: a misspelt field, a wrong type and a missing
/// required field in otherwise valid emitted objects are all caught.
#[test]
fn the_crd_check_catches_broken_objects() {
    let schemas = schemas();
    let tmp = tempfile::tempdir().expect("tempdir");
    let repo = root().join("examples/fleet-repo");
    let out = render(&repo, tmp.path(), &["--format", "flux"]);
    let objs = objects_of(&out);
    let ks = objs
        .iter()
        .map(|(_, o)| o)
        .find(|o| {
            o["kind"] == "Kustomization" && o["apiVersion"] == "kustomize.toolkit.fluxcd.io/v1"
        })
        .expect("a Flux Kustomization")
        .clone();
    assert_eq!(problems(&schemas, &ks), Some(vec![]));
    let mut typo = ks.clone();
    typo["spec"]["prunne"] = json!(true);
    let mut wrong_type = ks.clone();
    wrong_type["spec"]["prune"] = json!("yes");
    let mut missing = ks.clone();
    missing["spec"]
        .as_object_mut()
        .expect("spec")
        .remove("sourceRef");
    let mut bad_name = ks;
    bad_name["metadata"]["name"] = json!("Not_A_Name");
    for broken in [typo, wrong_type, missing, bad_name] {
        let errs = problems(&schemas, &broken).expect("a CRD applies");
        assert!(!errs.is_empty(), "not caught: {broken}");
    }
}
