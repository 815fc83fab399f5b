//! Rendering is a function of the repository and the flags only: not of
//! `TZ`, the locale, the working directory, the thread count or other
//! environment variables (SECURITY.md, README "Determinism").
use std::path::Path;
use std::process::Command;

use crate::common::*;

fn render_with(repo: &Path, out: &Path, cwd: &Path, env: &[(&str, &str)], today: Option<&str>) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_fleetc"));
    if let Some(t) = today {
        c.args(["--today", t]);
    }
    c.arg("render")
        .arg(repo)
        .arg("-o")
        .arg(out)
        .current_dir(cwd)
        .env_clear()
        .envs(env.iter().copied());
    let o = c.output().expect("run fleetc");
    assert_eq!(
        code(&o),
        0,
        "render under {env:?} in {}:\n{}",
        cwd.display(),
        text(&o.stderr)
    );
}

#[test]
fn rendering_ignores_tz_locale_working_directory_and_environment() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let repo = root().join("examples/fleet-repo");
    let variants: Vec<(&Path, Vec<(&str, &str)>)> = vec![
        (tmp.path(), vec![]),
        (
            Path::new("/"),
            vec![
                ("TZ", "Pacific/Chatham"),
                ("LC_ALL", "tr_TR.UTF-8"),
                ("LANG", "ja_JP.UTF-8"),
                ("RAYON_NUM_THREADS", "1"),
            ],
        ),
        (
            &repo,
            vec![
                ("TZ", "America/St_Johns"),
                ("LC_ALL", "C"),
                ("HOME", "/nonexistent"),
                ("XDG_CONFIG_HOME", "/nonexistent"),
                ("GIT_DIR", "/nonexistent"),
                ("NO_COLOR", "1"),
                ("FLEETC_ANYTHING", "x"),
                ("RAYON_NUM_THREADS", "7"),
            ],
        ),
    ];
    let mut trees = Vec::new();
    for (i, (cwd, env)) in variants.iter().enumerate() {
        let out = tmp.path().join(format!("out-{i}"));
        render_with(&repo, &out, cwd, env, Some("2026-06-01"));
        trees.push(read_tree(&out));
    }
    for (i, t) in trees.iter().enumerate().skip(1) {
        assert!(
            *t == trees[0],
            "variant {i} ({:?}) rendered different bytes",
            variants[i].1
        );
    }
    // "Today" from SOURCE_DATE_EPOCH is a UTC date, whatever the zone:
    // 2026-05-31T23:00:00Z is the 1st of June east of UTC+1 and still the
    // 31st of May west of it.
    let mut dated = Vec::new();
    for tz in ["Pacific/Kiritimati", "Pacific/Niue", "UTC"] {
        let out = tmp.path().join(format!("dated-{}", tz.replace('/', "-")));
        render_with(
            &repo,
            &out,
            tmp.path(),
            &[("TZ", tz), ("SOURCE_DATE_EPOCH", "1780268400")],
            None,
        );
        dated.push(read_tree(&out));
    }
    assert!(dated.iter().all(|t| *t == dated[0]), "today depends on TZ");
}
