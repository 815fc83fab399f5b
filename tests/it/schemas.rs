//! The JSON Schemas in fleet-schema/: valid samples pass, invalid samples
//! fail, the embedded copies are what `fleetc schema` prints, and the
//! inventory of a real render conforms.
use fleetc::diag::Source;
use fleetc::schema;
use fleetc::yaml::{parse_single, Budget};

use crate::common::*;

fn samples(kind_dir: &str) -> Vec<(String, String)> {
    let dir = root().join("fleet-schema").join(kind_dir);
    let mut v = Vec::new();
    for e in walkdir::WalkDir::new(&dir)
        .sort_by_file_name()
        .into_iter()
        .flatten()
    {
        if e.file_type().is_file() {
            let rel = e
                .path()
                .strip_prefix(&dir)
                .expect("prefix")
                .to_string_lossy()
                .into_owned();
            v.push((rel, std::fs::read_to_string(e.path()).expect("read")));
        }
    }
    v
}

/// Parse a sample and check it against the schema of its own kind.
fn check_sample(name: &str, t: &str) -> Vec<fleetc::diag::Diagnostic> {
    let node = parse_single(&Source::new(name, t), &Budget::default())
        .expect("yaml")
        .expect("doc");
    schema::check(&kind_of(t), &node)
}

fn kind_of(text: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix("kind: "))
        .expect("sample has a kind")
        .trim()
        .to_string()
}

#[test]
fn valid_samples_pass() {
    let s = samples("valid");
    let kinds: std::collections::BTreeSet<String> = s.iter().map(|(_, t)| kind_of(t)).collect();
    for k in [
        "Fleet",
        "Cluster",
        "ClusterGroup",
        "Component",
        "Policy",
        "Placement",
    ] {
        assert!(kinds.contains(k), "no valid sample of {k}");
    }
    for (name, t) in s {
        let errs = check_sample(&name, &t);
        assert!(
            errs.is_empty(),
            "{name} should be valid: {:?}",
            errs.iter().map(|e| &e.message).collect::<Vec<_>>()
        );
    }
}

#[test]
fn invalid_samples_fail() {
    let s = samples("invalid");
    assert!(s.len() >= 6);
    for (name, t) in s {
        let errs = check_sample(&name, &t);
        assert!(
            !errs.is_empty(),
            "{name} should be rejected by the {} schema",
            kind_of(&t)
        );
    }
}

#[test]
fn schema_command_prints_standalone_schemas() {
    for k in schema::kinds() {
        let o = fleetc(&["schema", k], &root());
        assert_eq!(code(&o), 0);
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
        assert_eq!(v["$schema"], "https://json-schema.org/draft/2020-12/schema");
        assert!(
            !text(&o.stdout).contains("defs.schema.json#"),
            "{k}: references must be inlined"
        );
        jsonschema::draft202012::new(&v).expect("compiles");
    }
    let o = fleetc(&["schema", "Clustr"], &root());
    assert_eq!(code(&o), 2);
}

#[test]
fn inventory_conforms_to_its_schema() {
    for (_, path) in examples() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let out = render(&path, tmp.path(), &[]);
        let inv: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.join("inventory.json")).expect("inventory"))
                .expect("json");
        let errs = schema::check_json("Inventory", &inv);
        assert!(errs.is_empty(), "{errs:?}");
        assert!(inv["sourceRevision"].is_null());
        let c = &inv["clusters"][0];
        assert!(c["inputs"]
            .as_object()
            .is_some_and(|m| m.contains_key("fleet.yaml")));
    }
}
