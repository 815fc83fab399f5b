//! `fleetc init`: the new fleet validates and renders in every format at
//! once, the agents' tools accept it, and a directory with files in it is
//! left alone.

use std::process::Command;

use crate::common::{code, fleetc, render_as, text};

#[test]
fn a_new_fleet_validates_and_renders_in_every_format() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let o = fleetc(&["init", "Acme Fleet"], tmp.path());
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    assert!(text(&o.stdout).contains("fleetc validate"), "next steps");
    let fleet = tmp.path().join("Acme Fleet");
    let yaml = std::fs::read_to_string(fleet.join("fleet.yaml")).expect("fleet.yaml");
    assert!(yaml.contains("name: acme-fleet"), "{yaml}");
    // Every fleet file names its schema, and the schema is there.
    for f in [
        "fleet.yaml",
        "clusters/prod-1.yaml",
        "groups/production.yaml",
        "components/hello/component.yaml",
        "placements/hello.yaml",
    ] {
        let first = std::fs::read_to_string(fleet.join(f)).expect("file");
        let first = first.lines().next().unwrap_or_default().to_string();
        let rel = first
            .strip_prefix("# yaml-language-server: $schema=")
            .unwrap_or_else(|| panic!("{f}: {first}"));
        let schema = fleet.join(f).parent().expect("dir").join(rel);
        let s: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&schema).expect("schema")).expect("json");
        assert!(s["$schema"].is_string(), "{f}: {}", schema.display());
    }
    let o = fleetc(&["validate"], &fleet);
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    for format in ["flux", "argocd", "plain"] {
        let out = tmp.path().join(format!("out-{format}"));
        let o = render_as(&fleet, &out, format);
        assert_eq!(code(&o), 0, "{format}: {}", text(&o.stderr));
    }
    // The production group's target: two replicas on prod-1, one on dev-1.
    let k = crate::kustomize::kubectl();
    for (cluster, replicas) in [("prod-1", "replicas: 2"), ("dev-1", "replicas: 1")] {
        let o = Command::new(&k)
            .arg("kustomize")
            .arg(tmp.path().join("out-plain/clusters").join(cluster))
            .output()
            .expect("kubectl");
        assert!(o.status.success(), "{}", text(&o.stderr));
        let built = text(&o.stdout);
        assert!(built.contains(replicas), "{cluster}: {built}");
        assert!(built.contains("kind: Namespace"), "{cluster}: {built}");
    }
}

#[test]
fn init_refuses_a_directory_with_files_and_writes_nothing() {
    let tmp = tempfile::tempdir().expect("tempdir");
    std::fs::write(tmp.path().join("notes.txt"), "mine").expect("write");
    let o = fleetc(&["init", "."], tmp.path());
    assert_eq!(code(&o), 2);
    assert!(
        text(&o.stderr).contains("is not empty (notes.txt)"),
        "{}",
        text(&o.stderr)
    );
    let left: Vec<_> = std::fs::read_dir(tmp.path()).expect("dir").collect();
    assert_eq!(left.len(), 1);
    // A fresh `git init` is empty enough.
    let repo = tmp.path().join("repo");
    std::fs::create_dir_all(repo.join(".git")).expect("mkdir");
    let o = fleetc(&["init", "--name", "platform"], &repo);
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    assert!(repo.join("placements/hello.yaml").is_file());
    // A name that is not a DNS label is refused.
    let o = fleetc(&["init", "other", "--name", "My Fleet"], tmp.path());
    assert_eq!(code(&o), 2);
    assert!(
        text(&o.stderr).contains("`my-fleet`"),
        "{}",
        text(&o.stderr)
    );
    assert!(!tmp.path().join("other").exists());
}
