//! Machine-readable diagnostics (`--output-format json|sarif|github`), on
//! every diagnostics case: the JSON document conforms to its published
//! schema (fleet-schema/diagnostics.schema.json) and carries the same codes
//! as the human output; SARIF passes Microsoft's SARIF Multitool `validate`
//! (installed by `cargo xtask test`); GitHub workflow commands are well
//! formed; no format ever carries a Secret's value.
use std::collections::BTreeSet;
use std::process::Command;

use fleetc::diag::Code;
use fleetc::schema;
use serde_json::Value as Json;

use crate::cases::{cases, codes_in, run_case_with};
use crate::common::*;

#[test]
fn json_of_every_case_conforms_and_matches_the_human_output() {
    for (name, dir) in cases() {
        let (human_code, _, human) = run_case_with(&dir, &[]);
        let (c, out, err) = run_case_with(&dir, &["--output-format", "json"]);
        assert_eq!(c, human_code, "{name}: the exit code depends on the format");
        let doc: Json =
            serde_json::from_str(&out).unwrap_or_else(|e| panic!("{name}: {e}\n{out}\n{err}"));
        let errs = schema::check_json("Diagnostics", &doc);
        assert!(errs.is_empty(), "{name}: {errs:?}\n{out}");
        let codes: Vec<String> = doc["diagnostics"]
            .as_array()
            .expect("diagnostics")
            .iter()
            .map(|d| d["code"].as_str().expect("code").to_string())
            .collect();
        assert_eq!(codes, codes_in(&human), "{name}");
        // Locations agree with the human `--> file:line:col`.
        for d in doc["diagnostics"].as_array().expect("diagnostics") {
            if let Some(file) = d["file"].as_str() {
                let at = format!("{file}:{}:{}", d["line"], d["column"]);
                assert!(
                    human.contains(&at) || human.contains(&format!("{file} (rendered")),
                    "{name}: {at} is not in\n{human}"
                );
            }
        }
        assert!(
            !err.contains("error["),
            "{name}: diagnostics leaked to stderr"
        );
    }
}

#[test]
fn the_schema_lists_every_code() {
    let s = schema::bundled("Diagnostics").expect("schema");
    let listed: BTreeSet<&str> = s["properties"]["diagnostics"]["items"]["properties"]["code"]
        ["enum"]
        .as_array()
        .expect("enum")
        .iter()
        .map(|v| v.as_str().expect("string"))
        .collect();
    let codes: BTreeSet<&str> = Code::ALL.iter().map(|c| c.as_str()).collect();
    assert_eq!(listed, codes);
}

#[test]
fn sarif_of_every_case_passes_the_sarif_multitool() {
    let bin = tool("SARIF_MULTITOOL", "sarif-multitool");
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut files = Vec::new();
    for (name, dir) in cases() {
        let (_, out, _) = run_case_with(&dir, &["--output-format", "sarif"]);
        let doc: Json = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{name}: {e}"));
        let run = &doc["runs"][0];
        let rules = run["tool"]["driver"]["rules"].as_array().expect("rules");
        assert_eq!(rules.len(), Code::ALL.len(), "one rule per code");
        for r in run["results"].as_array().expect("results") {
            let i = r["ruleIndex"].as_u64().expect("ruleIndex") as usize;
            assert_eq!(rules[i]["id"], r["ruleId"], "{name}");
            if let Some(l) = r["locations"].as_array() {
                let uri = l[0]["physicalLocation"]["artifactLocation"]["uri"]
                    .as_str()
                    .expect("uri");
                assert!(
                    !uri.starts_with('/') && !uri.contains(".."),
                    "{name}: {uri}"
                );
            }
        }
        let p = tmp.path().join(format!("{name}.sarif"));
        std::fs::write(&p, out).expect("write");
        files.push(p);
    }
    // One run over every file (the tool starts slowly); it reports problems
    // as results of its own, in a SARIF log, and exits 0 either way.
    let log = tmp.path().join("validation.sarif");
    let o = Command::new(&bin)
        .arg("validate")
        .args(&files)
        .args([
            "--output",
            &log.to_string_lossy(),
            "--log",
            "ForceOverwrite",
        ])
        .output()
        .expect("run sarif-multitool");
    assert!(o.status.success(), "{}{}", text(&o.stdout), text(&o.stderr));
    let v: Json = serde_json::from_str(&std::fs::read_to_string(&log).expect("log")).expect("json");
    let problems: Vec<String> = v["runs"]
        .as_array()
        .expect("runs")
        .iter()
        .flat_map(|r| r["results"].as_array().cloned().unwrap_or_default())
        .map(|r| r.to_string())
        .collect();
    assert!(
        problems.is_empty(),
        "the SARIF Multitool found problems:\n{}\n{}",
        problems.join("\n"),
        text(&o.stdout)
    );
}

#[test]
fn sarif_and_github_locations_are_relative_to_the_git_root() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let fleet = tmp.path().join("fleets/prod");
    copy_dir(&root().join("tests/it/cases/_base"), &fleet);
    copy_dir(
        &root().join("tests/it/cases/yaml-duplicate-key/repo"),
        &fleet,
    );
    let git = Command::new("git")
        .args(["init", "-q"])
        .current_dir(tmp.path())
        .status()
        .expect("git init");
    assert!(git.success());
    let o = fleetc(
        &["--output-format", "sarif", "validate", "fleets/prod"],
        tmp.path(),
    );
    assert_eq!(code(&o), 2);
    let doc: Json = serde_json::from_slice(&o.stdout).expect("sarif");
    let uri = &doc["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]
        ["uri"];
    assert_eq!(uri, "fleets/prod/clusters/a.yaml");
    let o = fleetc(
        &["--output-format", "github", "validate", "fleets/prod"],
        tmp.path(),
    );
    let out = text(&o.stdout);
    assert!(
        out.starts_with(
            "::error file=fleets/prod/clusters/a.yaml,line=9,col=3,endLine=9,endColumn=8,title=fleetc yaml-duplicate-key::duplicate key `owner`"
        ),
        "{out}"
    );
}

#[test]
fn github_commands_of_every_case_are_well_formed() {
    for (name, dir) in cases() {
        let (_, out, _) = run_case_with(&dir, &["--output-format", "github"]);
        assert!(!out.is_empty(), "{name}");
        for line in out.lines() {
            let (head, _) = line.split_once("::").map_or((line, ""), |(_, r)| {
                r.split_once("::").expect("::command props::message")
            });
            assert!(
                line.starts_with("::error ") || line.starts_with("::warning "),
                "{name}: {line}"
            );
            assert!(head.contains("title=fleetc "), "{name}: {line}");
        }
    }
}

#[test]
fn no_format_carries_a_secret_value() {
    let dir = root().join("tests/it/cases/plaintext-secret");
    let value = "hunter2";
    assert!(
        std::fs::read_to_string(dir.join("repo/components/web/templates/secret.yaml"))
            .expect("secret")
            .contains(value)
    );
    for f in ["human", "json", "sarif", "github"] {
        let (c, out, err) = run_case_with(&dir, &["--output-format", f]);
        assert_eq!(c, 2);
        assert!(!out.contains(value) && !err.contains(value), "{f}");
        assert!(out.contains("plaintext-secret") || err.contains("plaintext-secret"));
    }
}

#[test]
fn a_diagnostic_about_a_rendered_object_names_it() {
    let dir = root().join("tests/it/cases/plaintext-secret");
    let (_, out, _) = run_case_with(&dir, &["--output-format", "json"]);
    let doc: Json = serde_json::from_str(&out).expect("json");
    let d = &doc["diagnostics"][0];
    assert_eq!(d["code"], "plaintext-secret");
    assert_eq!(
        d["object"],
        serde_json::json!({"apiVersion": "v1", "kind": "Secret", "namespace": "web", "name": "web-db"})
    );
    assert_eq!(d["clusters"], serde_json::json!(["a", "b", "c"]));
}

#[test]
fn an_api_diagnostic_names_the_field_and_the_kubernetes_versions() {
    let dir = root().join("tests/it/cases/api-unknown-field");
    let (_, out, _) = run_case_with(&dir, &["--output-format", "json"]);
    let doc: Json = serde_json::from_str(&out).expect("json");
    let d = &doc["diagnostics"][0];
    assert_eq!(d["code"], "unknown-field");
    assert_eq!(d["path"], "spec.replica");
    assert_eq!(d["kubernetesVersions"], serde_json::json!(["1.30"]));
    assert_eq!(d["object"]["kind"], "Deployment");
    assert_eq!(d["help"], "did you mean `replicas`?");
    assert_eq!(d["line"], 6);
}
