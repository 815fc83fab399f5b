//! Golden trees: `golden/<example>/<format>/` is the exact rendered output of
//! `examples/<example>/` in that format; any byte difference fails.
//! `cargo xtask bless` rewrites them.
use std::collections::BTreeMap;
use std::path::Path;

use crate::common::*;

const FORMATS: [&str; 3] = ["flux", "argocd", "plain"];

fn compare(name: &str, got: &BTreeMap<String, Vec<u8>>, golden_dir: &Path) {
    let want = read_tree(golden_dir);
    let mut problems = Vec::new();
    for (p, bytes) in got {
        match want.get(p) {
            None => problems.push(format!("new file {p}")),
            Some(w) if w != bytes => problems.push(format!("changed {p}")),
            _ => {}
        }
    }
    for p in want.keys() {
        if !got.contains_key(p) {
            problems.push(format!("stale file {p}"));
        }
    }
    assert!(
        problems.is_empty(),
        "golden/{name} differs from the rendered output ({} files); review and run `cargo xtask bless`:\n{}",
        problems.len(),
        problems.iter().take(30).cloned().collect::<Vec<_>>().join("\n")
    );
}

/// `golden/<example>/<format>/` is the exact output of `fleetc render
/// --format <format>`; a format without a golden tree must fail to render.
#[test]
fn examples_render_to_their_golden_trees() {
    let examples = examples();
    assert!(!examples.is_empty(), "no examples found");
    let mut formats_seen = std::collections::BTreeSet::new();
    for (name, path) in examples {
        for f in FORMATS {
            let golden_dir = root().join("golden").join(&name).join(f);
            let tmp = tempfile::tempdir().expect("tempdir");
            if golden_dir.is_dir() {
                let out = render(&path, tmp.path(), &["--format", f]);
                compare(&format!("{name}/{f}"), &read_tree(&out), &golden_dir);
                formats_seen.insert(f);
            } else {
                let o = fleetc(
                    &[
                        "render",
                        &path.to_string_lossy(),
                        "-o",
                        "out",
                        "--format",
                        f,
                    ],
                    tmp.path(),
                );
                assert_eq!(
                    code(&o),
                    2,
                    "golden/{name}/{f} is missing but the example renders in that format: run `cargo xtask bless`\n{}",
                    text(&o.stderr)
                );
            }
        }
    }
    assert_eq!(formats_seen.len(), 3, "every format has a golden tree");
}

#[test]
fn thread_count_does_not_change_output() {
    for (_, path) in examples() {
        let a = tempfile::tempdir().expect("tempdir");
        let b = tempfile::tempdir().expect("tempdir");
        let one = read_tree(&render(&path, a.path(), &["--jobs", "1"]));
        let many = read_tree(&render(&path, b.path(), &["--jobs", "7"]));
        assert!(
            one == many,
            "--jobs 1 and --jobs 7 differ for {}",
            path.display()
        );
    }
}
