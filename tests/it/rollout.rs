//! Rollouts: waves decide version and values; `fleetc promote` edits one line.
use std::path::Path;

use crate::common::*;

const PLACEMENT: &str = "\
# The web tier rolls out ring by ring.
apiVersion: fleetc.dev/v1alpha1
kind: Placement
metadata:
  name: web   # must match the file name
spec:
  component: web
  target: {all: true}
  rollout:
    waves:
      - name: canary          # the dev cluster first
        target: {clusters: [c]}
      - name: prod-a
        target: {clusters: [a]}
      - name: rest
    promotedThrough: canary   # bump after a day of clean metrics
    version: 2.0.0
    values: {replicas: 9}
";

fn repo_with_rollout(tmp: &Path, placement: &str) -> std::path::PathBuf {
    let repo = tmp.join("repo");
    copy_dir(&root().join("tests/it/cases/_base"), &repo);
    std::fs::write(repo.join("placements/web.yaml"), placement).expect("write");
    repo
}

fn deployment(out: &Path, c: &str) -> String {
    std::fs::read_to_string(out.join(format!(
        "clusters/{c}/components/web/web/deployment_web.yaml"
    )))
    .expect("read")
}

#[test]
fn promoted_waves_get_the_new_version_and_values() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let repo = repo_with_rollout(tmp.path(), PLACEMENT);
    let out = render(&repo, tmp.path(), &[]);
    assert!(
        deployment(&out, "c").contains("image: web:2.0.0")
            && deployment(&out, "c").contains("replicas: 9")
    );
    assert!(
        deployment(&out, "a").contains("image: web:1.0.0")
            && deployment(&out, "a").contains("replicas: 3")
    );
    let inv = std::fs::read_to_string(out.join("inventory.json")).expect("read");
    assert!(inv.contains("\"wave\": \"canary\"") && inv.contains("\"promoted\": true"));
}

#[test]
fn promote_changes_exactly_one_line_and_keeps_comments() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let repo = repo_with_rollout(tmp.path(), PLACEMENT);
    let file = repo.join("placements/web.yaml");
    let o = fleetc(&["promote", "web"], &repo);
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    let after = std::fs::read_to_string(&file).expect("read");
    let changed: Vec<(&str, &str)> = PLACEMENT
        .lines()
        .zip(after.lines())
        .filter(|(a, b)| a != b)
        .collect();
    assert_eq!(PLACEMENT.lines().count(), after.lines().count());
    assert_eq!(
        changed,
        vec![(
            "    promotedThrough: canary   # bump after a day of clean metrics",
            "    promotedThrough: prod-a   # bump after a day of clean metrics"
        )]
    );
    assert!(
        text(&o.stdout).contains("placements/web.yaml:16"),
        "{}",
        text(&o.stdout)
    );
    // The promoted fleet renders: cluster a now runs 2.0.0.
    let out = render(&repo, tmp.path(), &[]);
    assert!(deployment(&out, "a").contains("image: web:2.0.0"));
    // Then through the last wave, and no further.
    let o = fleetc(&["promote", "repo", "web"], tmp.path());
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    let before = std::fs::read_to_string(&file).expect("read");
    let o = fleetc(&["promote", "web"], &repo);
    assert_eq!(code(&o), 2);
    assert!(
        text(&o.stderr).contains("already fully promoted"),
        "{}",
        text(&o.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(&file).expect("read"),
        before,
        "a refused promote writes nothing"
    );
}

#[test]
fn promote_adds_the_line_when_nothing_is_promoted_yet() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let without = PLACEMENT.replace(
        "    promotedThrough: canary   # bump after a day of clean metrics\n",
        "",
    );
    let repo = repo_with_rollout(tmp.path(), &without);
    let o = fleetc(&["promote", "web"], &repo);
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    let after = std::fs::read_to_string(repo.join("placements/web.yaml")).expect("read");
    assert_eq!(after.lines().count(), without.lines().count() + 1);
    assert!(
        after.contains("  rollout:\n    promotedThrough: canary\n    waves:\n"),
        "{after}"
    );
}
