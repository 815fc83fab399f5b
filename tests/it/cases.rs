//! Diagnostics cases: `cases/<name>/repo/` is laid over the tiny fleet in
//! `cases/_base/` (files in `delete` are removed), fleetc runs with the
//! arguments in `args` (default `validate`) and its stderr must equal the
//! snapshot `cases/<name>/stderr.snap` (review changes with `cargo insta review`).
//!
//! Every diagnostic code has at least one case whose snapshot shows it,
//! except the few listed in `cases/ELSEWHERE` (codes that need a git
//! history, a file system fault or a second revision), each with the test
//! file that shows it.
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use fleetc::diag::Code;

use crate::common::*;

/// The output of one case run with `global` flags before its arguments:
/// (exit code, stdout, stderr).
pub fn run_case_with(dir: &Path, global: &[&str]) -> (i32, String, String) {
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
    argv.extend(global);
    argv.extend(args.split_whitespace());
    let o = fleetc(&argv, &repo);
    let (stdout, stderr) = (text(&o.stdout), text(&o.stderr));
    assert!(
        !stderr.contains(&*tmp.path().to_string_lossy())
            && !stdout.contains(&*tmp.path().to_string_lossy()),
        "{}: diagnostics must name repo-relative paths only:\n{stderr}",
        dir.display()
    );
    (code(&o), stdout, stderr)
}

/// Every case directory, by name.
pub fn cases() -> Vec<(String, PathBuf)> {
    let dir = root().join("tests/it/cases");
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .expect("cases/")
        .flatten()
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('_'))
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|n| (n.clone(), dir.join(n)))
        .collect()
}

/// The codes in human output, in order: `error[code]:` and `warning[code]:`.
pub fn codes_in(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .filter_map(|l| {
            let rest = l
                .strip_prefix("error[")
                .or_else(|| l.strip_prefix("warning["))?;
            Some(rest.split(']').next()?.to_string())
        })
        .collect()
}

#[test]
fn every_case_matches_its_snapshot() {
    let cases = cases();
    assert!(
        cases.len() >= 20,
        "at least 20 diagnostics cases, found {}",
        cases.len()
    );
    for (name, dir) in cases {
        let (code, _, stderr) = run_case_with(&dir, &[]);
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
fn every_code_has_a_case() {
    let mut shown = BTreeSet::new();
    for (_, dir) in cases() {
        let snap = std::fs::read_to_string(dir.join("stderr.snap")).expect("stderr.snap");
        shown.extend(codes_in(&snap));
    }
    // `code  tests/it/file.rs` lines: shown by a test elsewhere, which must assert it.
    let elsewhere =
        std::fs::read_to_string(root().join("tests/it/cases/ELSEWHERE")).expect("cases/ELSEWHERE");
    for line in elsewhere
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
    {
        let mut parts = line.split_whitespace();
        let (Some(code), Some(file)) = (parts.next(), parts.next()) else {
            panic!("ELSEWHERE: `{line}` is not `code file`");
        };
        assert!(
            Code::from_name(code).is_some(),
            "ELSEWHERE names an unknown code {code}"
        );
        assert!(
            !shown.contains(code),
            "{code} has a case; drop it from ELSEWHERE"
        );
        let t =
            std::fs::read_to_string(root().join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert!(
            t.contains(&format!("[{code}]")) || t.contains(&format!(".diag(\"{code}\")")),
            "{file} does not assert `[{code}]`"
        );
        shown.insert(code.to_string());
    }
    let missing: Vec<&str> = Code::ALL
        .iter()
        .map(|c| c.as_str())
        .filter(|c| !shown.contains(*c))
        .collect();
    assert!(
        missing.is_empty(),
        "codes without a case in tests/it/cases/: {missing:?}"
    );
    for c in &shown {
        assert!(
            Code::from_name(c).is_some(),
            "a case shows unknown code {c}"
        );
    }
}

#[test]
fn the_base_fleet_is_valid() {
    let base = root().join("tests/it/cases/_base");
    let o = fleetc(&["validate", "."], &base);
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
}
