//! The files people copy into their repositories: `.pre-commit-hooks.yaml`
//! and `examples/ci/`. The CI files are checked by check-jsonschema against
//! the GitHub Actions and GitLab CI schemas it vendors (from SchemaStore),
//! found through `CHECK_JSONSCHEMA` (set by `cargo xtask test`) or PATH;
//! the hooks run as pre-commit would run them.
use std::process::Command;

use fleetc::diag::Source;
use fleetc::yaml::{parse_single, Budget};

use crate::common::*;

/// Check `file` against check-jsonschema's vendored `schema`; its text.
fn valid_for(bin: &str, file: &str, schema: &str) -> String {
    let o = Command::new(bin)
        .args(["--builtin-schema", schema, file])
        .current_dir(root())
        .output()
        .expect("run check-jsonschema");
    assert!(
        o.status.success(),
        "{file} is not a valid {schema} file:\n{}{}",
        text(&o.stdout),
        text(&o.stderr)
    );
    std::fs::read_to_string(root().join(file)).expect("read")
}

#[test]
fn ci_examples_are_valid_for_their_ci_systems() {
    let bin = tool("CHECK_JSONSCHEMA", "check-jsonschema");
    for (file, schema) in [
        ("examples/ci/github/fleetc.yml", "vendor.github-workflows"),
        ("examples/ci/gitlab/.gitlab-ci.yml", "vendor.gitlab-ci"),
    ] {
        let t = valid_for(&bin, file, schema);
        // The comment body goes through a file, never the command line.
        assert!(t.contains("fleetc diff") && t.contains("--format markdown"));
        assert!(t.contains("fleetc publish --branch rendered") && t.contains("push"));
        assert!(t.contains("body=@") || t.contains("--data @note.json"));
    }
    // The sharded publish: one render per shard, one merge into the commit.
    for (file, schema, shards) in [
        (
            "examples/ci/github/fleetc-sharded.yml",
            "vendor.github-workflows",
            "shard: [1, 2, 3, 4]",
        ),
        (
            "examples/ci/gitlab/.gitlab-ci-sharded.yml",
            "vendor.gitlab-ci",
            "parallel: 4",
        ),
    ] {
        let t = valid_for(&bin, file, schema);
        assert!(t.contains(shards), "{file}");
        assert!(t.contains("fleetc render --rev HEAD --shard"), "{file}");
        assert!(
            t.contains("fleetc publish --branch rendered $from") && t.contains("--from $d"),
            "{file}"
        );
        assert!(t.contains("push"), "{file}");
    }
}

/// The sharded CI examples' commands, run as the CI systems would run them
/// (four shards, then the merge), publish what one `fleetc publish` does.
#[test]
fn the_sharded_ci_commands_publish_what_one_publish_does() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let w = crate::git::example_repo(tmp.path());
    let sh = |script: &str| {
        let o = Command::new("sh")
            .args(["-c", script])
            .current_dir(w.join("fleet"))
            .env(
                "PATH",
                format!(
                    "{}:{}",
                    std::path::Path::new(env!("CARGO_BIN_EXE_fleetc"))
                        .parent()
                        .expect("bin dir")
                        .display(),
                    std::env::var("PATH").unwrap_or_default()
                ),
            )
            .output()
            .expect("sh");
        assert!(o.status.success(), "{script}: {}", text(&o.stderr));
    };
    for k in 1..=4 {
        sh(&format!(
            "fleetc render --rev HEAD --shard \"{k}/4\" -o \"shard-{k}\""
        ));
    }
    sh("from=\"\"; for d in shard-*; do from=\"$from --from $d\"; done; fleetc publish --branch rendered $from");
    sh("fleetc publish --branch single");
    let id = |b: &str| crate::git::git(&w, &["rev-parse", b]);
    assert_eq!(id("rendered"), id("single"));
}

#[test]
fn pre_commit_hooks_run_as_declared() {
    let path = root().join(".pre-commit-hooks.yaml");
    let src = Source::new(
        ".pre-commit-hooks.yaml",
        std::fs::read_to_string(&path).expect("read"),
    );
    let doc = parse_single(&src, &Budget::default())
        .expect("yaml")
        .expect("a document");
    let hooks = doc.as_seq().expect("a list of hooks");
    let ids: Vec<&str> = hooks.iter().filter_map(|h| h.get("id")?.as_str()).collect();
    assert_eq!(ids, ["fleetc-validate", "fleetc-render"]);

    // A fleet repository at the root of a temp dir, as pre-commit runs hooks there.
    let tmp = tempfile::tempdir().expect("tempdir");
    let repo = tmp.path();
    copy_dir(&root().join("examples/plain-repo"), repo);
    for h in hooks {
        assert_eq!(
            h.get("pass_filenames").and_then(|v| v.as_bool()),
            Some(false)
        );
        assert_eq!(
            h.get("require_serial").and_then(|v| v.as_bool()),
            Some(true)
        );
        let files = h.get("files").and_then(|v| v.as_str()).expect("files");
        // pre-commit matches `files` with Python's re.search.
        let py = Command::new("python3")
            .args(["-c", "import re,sys; p=re.compile(sys.argv[1]); print(' '.join(str(bool(p.search(f))) for f in sys.argv[2:]))", files,
                "fleet.yaml", "clusters/a.yaml", "components/web/templates/x.yaml.j2", "README.md", "rendered/inventory.json", "src/main.rs"])
            .output()
            .expect("python3");
        assert_eq!(
            text(&py.stdout).trim(),
            "True True True False False False",
            "files: {files}"
        );
        let mut argv: Vec<String> = h
            .get("entry")
            .and_then(|v| v.as_str())
            .expect("entry")
            .split_whitespace()
            .map(String::from)
            .collect();
        assert_eq!(argv.remove(0), "fleetc");
        if let Some(args) = h.get("args").and_then(|v| v.as_seq()) {
            argv.extend(args.iter().filter_map(|a| a.as_str().map(String::from)));
        }
        let args: Vec<&str> = argv.iter().map(String::as_str).collect();
        let o = fleetc(&args, repo);
        if h.get("id").and_then(|v| v.as_str()) == Some("fleetc-render") {
            // Nothing rendered yet: stale, exit 1 with the missing paths.
            assert_eq!(code(&o), 1, "{}", text(&o.stderr));
            assert!(
                text(&o.stdout).contains("missing rendered/clusters/shop-eu/kustomization.yaml")
            );
            let o = fleetc(&["render", "-o", "rendered"], repo);
            assert_eq!(code(&o), 0, "{}", text(&o.stderr));
            let o = fleetc(&args, repo);
            assert_eq!(code(&o), 0, "{}", text(&o.stderr));
        } else {
            assert_eq!(code(&o), 0, "{}", text(&o.stderr));
        }
    }
}
