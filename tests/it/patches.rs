//! The patch engine against kubectl itself: every case in tests/patch-cases/
//! has an expected.yaml made by `kubectl patch --local` (see regen.sh there).
use fleetc::diag::Source;
use fleetc::render::patch;
use fleetc::yaml::{parse_documents, parse_single, Budget, Node};

use crate::common::*;

fn yaml(name: &str, text: &str) -> Node {
    parse_single(&Source::new(name, text), &Budget::default())
        .expect("yaml")
        .expect("doc")
}

#[test]
fn patches_agree_with_kubectl() {
    let dir = root().join("tests/patch-cases");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("patch-cases")
        .flatten()
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(
        names.len() >= 30,
        "at least 30 cases, found {}",
        names.len()
    );
    let mut failures = Vec::new();
    for name in names {
        let d = dir.join(&name);
        let read = |f: &str| std::fs::read_to_string(d.join(f)).unwrap_or_default();
        let mut target = yaml("original.yaml", &read("original.yaml"));
        let patch_text = read("patch.json");
        let kind = read("type");
        let kind = if kind.trim().is_empty() {
            "strategic"
        } else {
            kind.trim()
        };
        let api = target
            .get("apiVersion")
            .and_then(|n| n.as_str())
            .unwrap_or_default()
            .to_string();
        let group = api.rsplit_once('/').map_or("", |(g, _)| g).to_string();
        let k = target
            .get("kind")
            .and_then(|n| n.as_str())
            .unwrap_or_default()
            .to_string();
        let p = parse_documents(
            &Source::new("patch.json", patch_text.as_str()),
            &Budget::default(),
        )
        .expect("patch")[0]
            .clone();
        let result = match kind {
            "strategic" => patch::strategic(&mut target, &p, &group, &k),
            "merge" => {
                patch::merge_patch(&mut target, &p);
                Ok(())
            }
            "json" => patch::json_patch(&mut target, p.as_seq().expect("ops")),
            other => panic!("unknown type {other}"),
        };
        if let Err(e) = result {
            failures.push(format!("{name}: {e}"));
            continue;
        }
        let want = yaml("expected.yaml", &read("expected.yaml")).to_json();
        let got = target.to_json();
        if got != want {
            failures.push(format!(
                "{name}:\n  fleetc:  {}\n  kubectl: {}",
                serde_json::to_string(&got).unwrap_or_default(),
                serde_json::to_string(&want).unwrap_or_default()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} cases disagree with kubectl:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
