//! `publish` streams the rendered tree into one pack and keeps the parts of
//! the branch's tree whose clusters did not change: after every kind of
//! edit its tree is the tree `render` + `git add` gives, object for object,
//! and git itself finds the repository sound.
use std::path::Path;
use std::process::Command;

use crate::common::*;
use crate::git::{example_repo, git};

/// The tree id `git add` gives a fresh `render --rev HEAD` of `w/fleet`.
fn rendered_tree(w: &Path, tmp: &Path) -> String {
    let out = tmp.join("render-out");
    let _ = std::fs::remove_dir_all(&out);
    let o = fleetc(
        &[
            "render",
            "fleet",
            "--rev",
            "HEAD",
            "-o",
            out.to_str().expect("utf-8"),
        ],
        w,
    );
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    std::fs::remove_file(out.join(".fleetc-output")).expect("marker");
    let index = tmp.join("scratch-index");
    let _ = std::fs::remove_file(&index);
    let run = |args: &[&str]| {
        let o = Command::new("git")
            .args(args)
            .current_dir(w)
            .env("GIT_INDEX_FILE", &index)
            .env("GIT_WORK_TREE", &out)
            .output()
            .expect("git");
        assert!(o.status.success(), "git {args:?}: {}", text(&o.stderr));
        text(&o.stdout).trim().to_string()
    };
    run(&["add", "-A", "."]);
    run(&["write-tree"])
}

fn publish(w: &Path) -> String {
    let o = fleetc(&["publish", "fleet", "--branch", "rendered"], w);
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    text(&o.stdout)
}

fn assert_published(w: &Path, tmp: &Path, after: &str) {
    let want = rendered_tree(w, tmp);
    let got = git(w, &["rev-parse", "rendered^{tree}"]);
    assert_eq!(
        got, want,
        "after {after}, the published tree is not render + git add's"
    );
    let fsck = Command::new("git")
        .args(["fsck", "--strict", "--no-dangling"])
        .current_dir(w)
        .output()
        .expect("git fsck");
    assert!(
        fsck.status.success(),
        "git fsck after {after}: {}",
        text(&fsck.stderr)
    );
}

fn commit(w: &Path, msg: &str) {
    git(w, &["add", "-A"]);
    git(w, &["commit", "-q", "-m", msg]);
}

#[test]
fn publish_first_incremental_and_no_op_give_the_tree_of_render() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let w = example_repo(tmp.path());
    let f = w.join("fleet");
    let said = publish(&w);
    assert!(said.starts_with("published"), "{said}");
    assert_published(&w, tmp.path(), "the first publish");
    let packs = || {
        std::fs::read_dir(w.join(".git/objects/pack"))
            .expect("pack dir")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".pack"))
            .count()
    };
    assert_eq!(packs(), 1, "the first publish writes one pack");

    // One group's value: its three clusters are rendered, the rest kept.
    crate::git::edit(
        &f.join("groups/development.yaml"),
        "logLevel: debug",
        "logLevel: trace",
    );
    commit(&w, "trace");
    let said = publish(&w);
    assert!(said.contains("3 clusters rendered, 10 unchanged"), "{said}");
    assert_published(&w, tmp.path(), "a group value changed");

    // A cluster added, one removed, a component removed.
    let added = std::fs::read_to_string(f.join("clusters/dev-eu-west.yaml"))
        .expect("read")
        .replace("name: dev-eu-west", "name: dev-eu-north");
    std::fs::write(f.join("clusters/dev-eu-north.yaml"), added).expect("write");
    commit(&w, "add");
    publish(&w);
    assert_published(&w, tmp.path(), "a cluster was added");
    std::fs::remove_file(f.join("clusters/prod-us-east-2.yaml")).expect("rm");
    commit(&w, "remove");
    publish(&w);
    assert_published(&w, tmp.path(), "a cluster was removed");
    std::fs::remove_dir_all(f.join("components/synthetic-probe")).expect("rm");
    std::fs::remove_file(f.join("placements/synthetic-probe.yaml")).expect("rm");
    commit(&w, "no probe");
    publish(&w);
    assert_published(&w, tmp.path(), "a component was removed");

    // A patch renames an object (and so its file).
    let p = f.join("placements/payments-api.yaml");
    let mut t = std::fs::read_to_string(&p).expect("read");
    t.push_str("\n  patches:\n    - target: {kind: PodDisruptionBudget, name: payments-api}\n      jsonPatch:\n        - {op: replace, path: /metadata/name, value: payments-api-budget}\n");
    std::fs::write(&p, t).expect("write");
    commit(&w, "rename");
    publish(&w);
    assert_published(&w, tmp.path(), "a patch renamed an object");

    // Nothing changed: nothing rendered, no commit.
    let tip = git(&w, &["rev-parse", "rendered"]);
    let said = publish(&w);
    assert!(said.contains("nothing rendered"), "{said}");
    assert_eq!(git(&w, &["rev-parse", "rendered"]), tip);

    // A source change that changes no cluster: only inventory.json's revision.
    std::fs::write(w.join("README.md"), "changed\n").expect("write");
    commit(&w, "readme");
    let said = publish(&w);
    assert!(said.contains("0 clusters rendered"), "{said}");
    assert_published(&w, tmp.path(), "a change outside the fleet");
}
