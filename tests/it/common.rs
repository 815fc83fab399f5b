//! Helpers shared by the integration tests.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The date library-level tests compile with (nothing they check depends on it).
pub const TODAY: &str = "2026-06-01";

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn fleetc(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fleetc"))
        .args(args)
        .current_dir(cwd)
        .env_remove("SOURCE_DATE_EPOCH")
        .output()
        .expect("run fleetc")
}

/// An external tool a test runs: the path in `env` (which `cargo xtask
/// test` sets after installing it), else `name` on PATH; the test fails,
/// saying how to get it, when it does not answer `--version`.
pub fn tool(env: &str, name: &str) -> String {
    let bin = std::env::var(env).unwrap_or_else(|_| name.into());
    let ok = Command::new(&bin)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "`{bin}` ({name}) was not found: run the tests with `cargo xtask test`, which installs it \
         into target/test-tools/ and sets {env}"
    );
    bin
}

pub fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

pub fn copy_dir(src: &Path, dst: &Path) {
    for e in walkdir::WalkDir::new(src).sort_by_file_name() {
        let e = e.expect("walk");
        let rel = e.path().strip_prefix(src).expect("prefix");
        let to = dst.join(rel);
        if e.file_type().is_dir() {
            std::fs::create_dir_all(&to).expect("mkdir");
        } else {
            std::fs::copy(e.path(), &to).expect("copy");
        }
    }
}

/// Every regular file under `dir` (relative path → bytes), without fleetc's marker.
pub fn read_tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for e in walkdir::WalkDir::new(dir).sort_by_file_name() {
        let e = e.expect("walk");
        if e.file_type().is_file() {
            let rel = e
                .path()
                .strip_prefix(dir)
                .expect("prefix")
                .to_string_lossy()
                .replace('\\', "/");
            if rel != ".fleetc-output" {
                out.insert(rel, std::fs::read(e.path()).expect("read"));
            }
        }
    }
    out
}

/// The example fleets: (name, path).
pub fn examples() -> Vec<(String, PathBuf)> {
    let mut v: Vec<(String, PathBuf)> = std::fs::read_dir(root().join("examples"))
        .expect("examples/")
        .flatten()
        .filter(|e| e.path().join("fleet.yaml").is_file())
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
        .collect();
    v.sort();
    v
}

/// Render `repo` into a fresh `out` inside `tmp`; panics with stderr on failure.
pub fn render(repo: &Path, tmp: &Path, extra: &[&str]) -> PathBuf {
    let out = tmp.join("out");
    let repo_s = repo.to_string_lossy().into_owned();
    let out_s = out.to_string_lossy().into_owned();
    let mut args = vec!["render", repo_s.as_str(), "-o", out_s.as_str()];
    args.extend_from_slice(extra);
    let o = fleetc(&args, tmp);
    assert_eq!(code(&o), 0, "render failed:\n{}", text(&o.stderr));
    out
}

/// Every golden tree (they equal fresh renders: see golden.rs).
pub fn golden_trees() -> Vec<PathBuf> {
    let mut v = Vec::new();
    for (name, _) in examples() {
        for f in ["flux", "argocd", "plain"] {
            let d = root().join("golden").join(&name).join(f);
            if d.is_dir() {
                v.push(d);
            }
        }
    }
    assert!(!v.is_empty(), "no golden trees");
    v
}

/// Whether a path of a rendered tree (relative to any directory of it) is
/// a file of a chart kept in the fleet, copied as it is: Helm's to render,
/// not a Kubernetes object.
pub fn is_chart_file(p: &str) -> bool {
    p.starts_with("chart/") || p.contains("/chart/")
}

/// `fleetc render -o OUT --format FORMAT` in `repo`.
pub fn render_as(repo: &Path, out: &Path, format: &str) -> Output {
    let out = out.to_str().expect("utf-8 path");
    fleetc(&["render", "-o", out, "--format", format], repo)
}

/// A new fleet, as `fleetc init` writes it, in `dir/fleet`.
pub fn new_fleet(dir: &Path) -> PathBuf {
    let o = fleetc(&["init", "fleet"], dir);
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    dir.join("fleet")
}

/// Key-sorted JSON of a value (keys sorted at every depth).
pub fn canonical(v: &serde_json::Value) -> String {
    fn sort(v: &serde_json::Value) -> serde_json::Value {
        match v {
            serde_json::Value::Object(m) => {
                let sorted: std::collections::BTreeMap<_, _> =
                    m.iter().map(|(k, x)| (k.clone(), sort(x))).collect();
                serde_json::to_value(sorted).expect("json")
            }
            serde_json::Value::Array(a) => serde_json::Value::Array(a.iter().map(sort).collect()),
            x => x.clone(),
        }
    }
    sort(v).to_string()
}

/// Every object of a YAML text, without fleetc's own labels
/// (`app.kubernetes.io/managed-by`, `fleetc.dev/cluster`) and source
/// annotation, as key-sorted JSON, sorted: what comparing fleetc's output
/// with `kubectl kustomize`'s takes.
pub fn objects_without_fleetc_marks(name: &str, text: &str) -> Vec<String> {
    use fleetc::diag::Source;
    use fleetc::yaml::{parse_documents, Budget};
    let docs = parse_documents(&Source::new(name, text), &Budget::default())
        .unwrap_or_else(|e| panic!("{name}: {}", e.message));
    let mut out = Vec::new();
    for d in docs.iter().filter(|d| !d.is_null()) {
        let mut j = d.to_json();
        if let Some(meta) = j.get_mut("metadata").and_then(|m| m.as_object_mut()) {
            for (field, own) in [
                (
                    "labels",
                    &["app.kubernetes.io/managed-by", "fleetc.dev/cluster"][..],
                ),
                ("annotations", &["fleetc.dev/source"][..]),
            ] {
                if let Some(m) = meta.get_mut(field).and_then(|m| m.as_object_mut()) {
                    for k in own {
                        m.remove(*k);
                    }
                    if m.is_empty() {
                        meta.remove(field);
                    }
                }
            }
        }
        out.push(canonical(&j));
    }
    out.sort();
    out
}
