//! Diagnostics cases: `cases/<name>/repo/` is laid over the tiny fleet in
//! `cases/_base/` (files in `delete` are removed), fleetc runs with the
//! arguments in `args` (default `validate`) and its stderr must equal the
//! snapshot `cases/<name>/stderr.snap` (review changes with `cargo insta review`).
use std::path::Path;

use crate::common::*;

fn run_case(dir: &Path) -> (i32, String) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let repo = tmp.path().join("repo");
    copy_dir(&dir.parent().expect("cases/").join("_base"), &repo);
    if dir.join("repo").is_dir() {
        copy_dir(&dir.join("repo"), &repo);
    }
    if let Ok(list) = std::fs::read_to_string(dir.join("delete")) {
        for p in list.lines().filter(|l| !l.trim().is_empty()) {
            std::fs::remove_file(repo.join(p.trim())).expect("delete");
        }
    }
    let args = std::fs::read_to_string(dir.join("args")).unwrap_or_else(|_| "validate".into());
    let mut argv: Vec<&str> = vec!["--color", "never"];
    argv.extend(args.split_whitespace());
    let o = fleetc(&argv, &repo);
    let stderr = text(&o.stderr);
    assert!(
        !stderr.contains(&*tmp.path().to_string_lossy()),
        "{}: diagnostics must name repo-relative paths only:\n{stderr}",
        dir.display()
    );
    (code(&o), stderr)
}

#[test]
fn every_case_matches_its_snapshot() {
    let cases = root().join("tests/it/cases");
    let mut names: Vec<_> = std::fs::read_dir(&cases)
        .expect("cases/")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('_'))
        .collect();
    names.sort();
    assert!(
        names.len() >= 20,
        "at least 20 diagnostics cases, found {}",
        names.len()
    );
    for name in names {
        let dir = cases.join(&name);
        let (code, stderr) = run_case(&dir);
        assert_eq!(code, 2, "{name}: expected exit 2, got {code}\n{stderr}");
        assert!(
            stderr.starts_with("error[") || stderr.starts_with("warning["),
            "{name}: {stderr}"
        );
        if !dir.join("no-location").exists() {
            let located = stderr.lines().any(|l| {
                l.trim_start().starts_with("--> ")
                    && l.rsplit(':')
                        .nth(1)
                        .is_some_and(|line| line.parse::<usize>().is_ok())
            });
            assert!(located, "{name}: no `--> file:line:col` in\n{stderr}");
        }
        insta::with_settings!({snapshot_path => dir.clone(), prepend_module_to_snapshot => false, omit_expression => true}, {
            insta::assert_snapshot!("stderr", stderr);
        });
    }
}

#[test]
fn the_base_fleet_is_valid() {
    let base = root().join("tests/it/cases/_base");
    let o = fleetc(&["validate", "."], &base);
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
}
