//! Git-native workflows on real repositories built with the `git` CLI:
//! `--rev`, `diff`, `publish`, and hostile trees.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::*;

/// Run git in `dir` with a fixed identity and clock; panics on failure.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let o = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "Test")
        .env("GIT_AUTHOR_EMAIL", "test@example.com")
        .env("GIT_COMMITTER_NAME", "Test")
        .env("GIT_COMMITTER_EMAIL", "test@example.com")
        .env("GIT_AUTHOR_DATE", "2026-01-02T03:04:05Z")
        .env("GIT_COMMITTER_DATE", "2026-01-02T03:04:05Z")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .output()
        .expect("run git");
    assert!(
        o.status.success(),
        "git {args:?} failed:\n{}",
        text(&o.stderr)
    );
    text(&o.stdout).trim_end().to_string()
}

/// A work tree with examples/fleet-repo committed under `fleet/`.
pub fn example_repo(tmp: &Path) -> PathBuf {
    let w = tmp.join("work");
    std::fs::create_dir_all(&w).expect("mkdir");
    git(&w, &["init", "-q", "-b", "main"]);
    copy_dir(&root().join("examples/fleet-repo"), &w.join("fleet"));
    std::fs::write(w.join("README.md"), "the platform repo\n").expect("write");
    git(&w, &["add", "-A"]);
    git(&w, &["commit", "-q", "-m", "fleet"]);
    w
}

/// Replace the first `from` in a file; panics when it is absent.
pub fn edit(path: &Path, from: &str, to: &str) {
    let t = std::fs::read_to_string(path).expect("read");
    assert!(t.contains(from), "{} has no {from:?}", path.display());
    std::fs::write(path, t.replacen(from, to, 1)).expect("write");
}

/// Everything publish and --rev must not touch: HEAD, the index, refs other
/// than the branch, the work tree, and `git status`.
fn snapshot(w: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut s = read_tree(w)
        .into_iter()
        .filter(|(p, _)| !p.starts_with(".git/") || p == ".git/HEAD" || p == ".git/index")
        .collect::<BTreeMap<_, _>>();
    // --no-optional-locks: `git status` must not refresh the index it is checking.
    s.insert(
        "status".into(),
        git(
            w,
            &[
                "--no-optional-locks",
                "status",
                "--porcelain=v2",
                "--branch",
            ],
        )
        .into_bytes(),
    );
    s.insert(
        "refs".into(),
        git(w, &["for-each-ref", "refs/heads/main"]).into_bytes(),
    );
    s
}

/// Equal snapshots, naming only what differs.
fn same(a: &BTreeMap<String, Vec<u8>>, b: &BTreeMap<String, Vec<u8>>, what: &str) {
    let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    let differ: Vec<&&String> = keys.iter().filter(|k| a.get(**k) != b.get(**k)).collect();
    assert!(differ.is_empty(), "{what} changed: {differ:?}");
}

#[test]
fn rev_reads_git_objects_and_touches_nothing() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let w = example_repo(tmp.path());
    // Uncommitted edits in the work tree must not leak into --rev renders.
    edit(
        &w.join("fleet/groups/production.yaml"),
        "replicas: 4",
        "replicas: 9",
    );
    std::fs::write(w.join("fleet/clusters/broken.yaml"), "kind: [").expect("write");
    let before = snapshot(&w);
    let o = fleetc(&["validate", "fleet", "--rev", "HEAD"], &w);
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    let out = tmp.path().join("out");
    let o = fleetc(
        &[
            "render",
            "fleet",
            "--rev",
            "main",
            "-o",
            &out.to_string_lossy(),
        ],
        &w,
    );
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    same(&snapshot(&w), &before, "--rev");
    // The render at HEAD equals the committed example's golden tree, except
    // for the source revision recorded in inventory.json.
    let got = read_tree(&out);
    let want = read_tree(&root().join("golden/fleet-repo/flux"));
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>()
    );
    for (p, b) in &want {
        if p != "inventory.json" {
            assert_eq!(&got[p], b, "{p} differs");
        }
    }
    let inv: serde_json::Value = serde_json::from_slice(&got["inventory.json"]).expect("json");
    assert_eq!(inv["sourceRevision"], git(&w, &["rev-parse", "HEAD"]));
    // From a subdirectory of the work tree, relative to it.
    let o = fleetc(&["validate", ".", "--rev", "HEAD"], &w.join("fleet"));
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    // explain too.
    let o = fleetc(&["explain", "fleet", "prod-eu-west-1", "--rev", "HEAD"], &w);
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
}

#[test]
fn hostile_revisions_are_clean_errors() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let w = example_repo(tmp.path());
    let long = "a".repeat(5000);
    for rev in [
        "--upload-pack=touch pwned",
        "HEAD~99999999",
        "no-such-branch",
        long.as_str(),
        "HEAD:fleet/fleet.yaml",
        "main\nHEAD",
    ] {
        let o = fleetc(&["validate", "fleet", &format!("--rev={rev}")], &w);
        let err = text(&o.stderr);
        assert_eq!(code(&o), 2, "{rev:?}: {err}");
        assert!(
            err.contains("invalid revision") || err.contains("not a commit"),
            "{rev:?}: {err}"
        );
        assert!(err.len() < 2000, "the error echoes too much: {err}");
    }
    assert!(!w.join("pwned").exists() && !tmp.path().join("pwned").exists());
    // Outside any repository (tempdirs are not inside one).
    let plain = tmp.path().join("plain");
    copy_dir(&root().join("examples/plain-repo"), &plain);
    let o = fleetc(&["validate", "plain", "--rev", "HEAD"], tmp.path());
    assert_eq!(code(&o), 2, "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("error[git-error]"));
    assert!(text(&o.stderr).contains("not inside a git repository"));
}

/// Write a tree object by hand (git mktree refuses these entries).
fn raw_tree(w: &Path, entries: &[(&str, &str, &str)]) -> String {
    let mut bytes = Vec::new();
    for (mode, name, hex) in entries {
        bytes.extend_from_slice(format!("{mode} {name}\0").as_bytes());
        for i in (0..hex.len()).step_by(2) {
            bytes.push(u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"));
        }
    }
    let f = w.join(".git/raw-tree");
    std::fs::write(&f, bytes).expect("write");
    git(
        w,
        &[
            "hash-object",
            "-w",
            "-t",
            "tree",
            "--literally",
            ".git/raw-tree",
        ],
    )
}

fn blob(w: &Path, content: &str) -> String {
    let f = w.join(".git/raw-blob");
    std::fs::write(&f, content).expect("write");
    git(w, &["hash-object", "-w", ".git/raw-blob"])
}

/// A tree entry: (mode without leading zeros, name, object id).
type Entry = (String, String, String);

fn ls_tree(w: &Path, tree: &str) -> Vec<Entry> {
    git(w, &["ls-tree", tree])
        .lines()
        .map(|l| {
            let (meta, name) = l.split_once('\t').expect("tab");
            let f: Vec<&str> = meta.split(' ').collect();
            (
                f[0].trim_start_matches('0').to_string(),
                name.to_string(),
                f[2].to_string(),
            )
        })
        .collect()
}

/// Write a tree from entries (sorted by name here; none of the tests need
/// git's directory ordering subtleties).
fn write_entries(w: &Path, mut entries: Vec<Entry>) -> String {
    entries.sort_by(|a, b| a.1.cmp(&b.1));
    let refs: Vec<(&str, &str, &str)> = entries
        .iter()
        .map(|(m, n, h)| (m.as_str(), n.as_str(), h.as_str()))
        .collect();
    raw_tree(w, &refs)
}

#[test]
fn hostile_trees_are_refused_and_nothing_is_written() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let w = example_repo(tmp.path());
    let fleet_tree = git(&w, &["rev-parse", "HEAD:fleet"]);
    let clusters = git(&w, &["rev-parse", "HEAD:fleet/clusters"]);
    let secret = blob(&w, "token: do-not-leak-this\n");
    let outside = blob(&w, "../../README.md");
    let head = git(&w, &["rev-parse", "HEAD"]);
    let entry = |m: &str, n: &str, h: &str| (m.to_string(), n.to_string(), h.to_string());
    let cases = [
        ("a `..` entry", entry("100644", "..", &secret)),
        ("a `.git` entry", entry("40000", ".git", &clusters)),
        ("a `.GIT` entry", entry("40000", ".GIT", &clusters)),
        (
            "a link out of the fleet",
            entry("120000", "stolen.yaml", &outside),
        ),
        ("a submodule", entry("160000", "vendor", &head)),
    ];
    for (what, extra) in cases {
        // clusters/ with the hostile entry added, inside the fleet tree.
        let mut entries = ls_tree(&w, &clusters);
        entries.push(extra);
        let bad_clusters = write_entries(&w, entries);
        let top: Vec<Entry> = ls_tree(&w, &fleet_tree)
            .into_iter()
            .map(|(m, n, h)| {
                let h = if n == "clusters" {
                    bad_clusters.clone()
                } else {
                    h
                };
                (m, n, h)
            })
            .collect();
        let bad_fleet = write_entries(&w, top);
        let root_tree = raw_tree(&w, &[("40000", "fleet", &bad_fleet)]);
        let commit = git(&w, &["commit-tree", &root_tree, "-m", "hostile"]);
        let out = tmp.path().join("out-hostile");
        let before = snapshot(&w);
        let o = fleetc(
            &[
                "render",
                "fleet",
                "--rev",
                &commit,
                "-o",
                &out.to_string_lossy(),
            ],
            &w,
        );
        let err = text(&o.stderr);
        assert_eq!(code(&o), 2, "{what}: {err}");
        assert!(
            err.contains("clusters/"),
            "{what}: the error names the entry: {err}"
        );
        assert!(!err.contains("do-not-leak-this"), "{what}: {err}");
        assert!(!out.exists(), "{what}: nothing is written");
        same(&snapshot(&w), &before, what);
    }
}

#[test]
fn links_inside_the_fleet_are_followed_at_a_revision() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let w = example_repo(tmp.path());
    let c = w.join("fleet/clusters");
    std::fs::rename(c.join("dev-eu-west.yaml"), w.join("fleet/dev-eu-west.yaml")).expect("mv");
    std::os::unix::fs::symlink("../dev-eu-west.yaml", c.join("dev-eu-west.yaml")).expect("link");
    git(&w, &["add", "-A"]);
    git(&w, &["commit", "-q", "-m", "link"]);
    let o = fleetc(&["validate", "fleet", "--rev", "HEAD"], &w);
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    assert!(text(&o.stdout).contains("13 clusters"));
}

#[test]
fn publish_is_reproducible_and_never_touches_the_work_tree() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let w = example_repo(tmp.path());
    edit(
        &w.join("fleet/groups/production.yaml"),
        "replicas: 4",
        "replicas: 7",
    ); // dirty
    let before = snapshot(&w);
    let o = fleetc(&["publish", "fleet", "--branch", "rendered"], &w);
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    let first = git(&w, &["rev-parse", "rendered"]);
    same(&snapshot(&w), &before, "publish");
    // Same source again: no new commit, and nothing rendered to know it
    // (the tip's inventory.json records the inputs digest).
    let o = fleetc(&["publish", "fleet", "--branch", "rendered"], &w);
    assert_eq!(code(&o), 0);
    assert!(
        text(&o.stdout).contains("up to date") && text(&o.stdout).contains("nothing rendered"),
        "{}",
        text(&o.stdout)
    );
    assert_eq!(git(&w, &["rev-parse", "rendered"]), first);
    assert_eq!(git(&w, &["rev-list", "--count", "rendered"]), "1");
    // --force renders: the tree is the same, so still no new commit.
    let o = fleetc(&["publish", "fleet", "--branch", "rendered", "--force"], &w);
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    assert!(
        !text(&o.stdout).contains("nothing rendered"),
        "{}",
        text(&o.stdout)
    );
    assert_eq!(git(&w, &["rev-parse", "rendered"]), first);
    // The same source in another clone gives the same commit id.
    let other = tmp.path().join("other");
    git(
        tmp.path(),
        &[
            "clone",
            "-q",
            &w.to_string_lossy(),
            &other.to_string_lossy(),
        ],
    );
    let o = fleetc(&["publish", "fleet", "--branch", "rendered"], &other);
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    assert_eq!(git(&other, &["rev-parse", "rendered"]), first);
    // The commit: trailer, source time, and the tree of a full render.
    let head = git(&w, &["rev-parse", "HEAD"]);
    let msg = git(&w, &["log", "-1", "--format=%B", "rendered"]);
    assert!(msg.contains(&format!("Fleetc-Source: {head}")), "{msg}");
    assert_eq!(
        git(&w, &["log", "-1", "--format=%ct %at", "rendered"]),
        git(&w, &["log", "-1", "--format=%ct %ct", "HEAD"])
    );
    let files = git(&w, &["ls-tree", "-r", "--name-only", "rendered"]);
    assert_eq!(
        files.lines().count(),
        read_tree(&root().join("golden/fleet-repo/flux")).len()
    );
    // Not from the dirty work tree: the committed replicas value.
    let dep = git(&w, &["show", "rendered:clusters/prod-eu-west-1/components/payments-api/payments/deployment_payments-api.yaml"]);
    assert!(dep.contains("replicas: 4"), "{dep}");

    // A newer source moves the branch on; an older one is refused.
    git(&w, &["commit", "-q", "-am", "seven replicas"]);
    let o = fleetc(&["publish", "fleet", "--branch", "rendered"], &w);
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    let second = git(&w, &["rev-parse", "rendered"]);
    assert_eq!(git(&w, &["rev-parse", "rendered^"]), first);
    let o = fleetc(
        &[
            "publish", "fleet", "--rev", "HEAD~1", "--branch", "rendered",
        ],
        &w,
    );
    assert_eq!(code(&o), 2, "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("error[publish-refused]: refusing to publish"));
    assert!(text(&o.stderr).contains("which is newer"));
    assert_eq!(git(&w, &["rev-parse", "rendered"]), second);
    let o = fleetc(
        &[
            "publish", "fleet", "--rev", "HEAD~1", "--branch", "rendered", "--force",
        ],
        &w,
    );
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    assert_eq!(git(&w, &["rev-parse", "rendered^"]), second);
}

#[test]
fn racing_publishes_leave_a_full_render() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let w = example_repo(tmp.path());
    edit(
        &w.join("fleet/groups/production.yaml"),
        "replicas: 4",
        "replicas: 6",
    );
    git(&w, &["commit", "-q", "-am", "six"]);
    let newest = git(&w, &["rev-parse", "HEAD"]);
    let out = tmp.path().join("expected");
    let o = fleetc(
        &[
            "render",
            "fleet",
            "--rev",
            "HEAD",
            "-o",
            &out.to_string_lossy(),
        ],
        &w,
    );
    assert_eq!(code(&o), 0);
    let expected = read_tree(&out);
    for round in 0..4 {
        let branch = format!("rendered-{round}");
        let spawn = |rev: &str| {
            Command::new(env!("CARGO_BIN_EXE_fleetc"))
                .args(["publish", "fleet", "--rev", rev, "--branch", &branch])
                .current_dir(&w)
                .output()
        };
        let (a, b) = std::thread::scope(|s| {
            let a = s.spawn(|| spawn("HEAD~1"));
            let b = s.spawn(|| spawn("HEAD"));
            (a.join().expect("thread"), b.join().expect("thread"))
        });
        let (a, b) = (a.expect("run"), b.expect("run"));
        // The newer source always lands; the older one lands first or is refused.
        assert_eq!(code(&b), 0, "{}", text(&b.stderr));
        assert!(matches!(code(&a), 0 | 2), "{}", text(&a.stderr));
        let msg = git(&w, &["log", "-1", "--format=%B", &branch]);
        assert!(
            msg.contains(&newest),
            "round {round}: tip is not the newest render: {msg}"
        );
        let files = git(&w, &["ls-tree", "-r", "--name-only", &branch]);
        let got: Vec<&str> = files.lines().collect();
        let want: Vec<&str> = expected.keys().map(String::as_str).collect();
        assert_eq!(got, want, "round {round}: the tip is not a full render");
        let inv = git(&w, &["show", &format!("{branch}:inventory.json")]);
        assert_eq!(
            inv.as_bytes(),
            expected["inventory.json"]
                .strip_suffix(b"\n")
                .unwrap_or(&expected["inventory.json"])
        );
    }
}
