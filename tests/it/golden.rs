//! Golden trees: `golden/<example>/` is the exact rendered output of
//! `examples/<example>/`; any byte difference fails. `cargo xtask bless`
//! rewrites them.
use crate::common::*;

#[test]
fn examples_render_to_their_golden_trees() {
    let examples = examples();
    assert!(!examples.is_empty(), "no examples found");
    for (name, path) in examples {
        let tmp = tempfile::tempdir().expect("tempdir");
        let out = render(&path, tmp.path(), &[]);
        let got = read_tree(&out);
        let golden_dir = root().join("golden").join(&name);
        assert!(
            golden_dir.is_dir(),
            "golden/{name} is missing: run `cargo xtask bless`"
        );
        let want = read_tree(&golden_dir);
        let mut problems = Vec::new();
        for (p, bytes) in &got {
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
