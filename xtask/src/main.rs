//! Project chores: `cargo xtask test` runs the test suite with the tools it
//! needs (tools.rs); `cargo xtask bless` rewrites golden/ from examples/;
//! `cargo xtask check` fails when golden/, data/crd-schemas/ or
//! data/k8s-schemas/ is stale; `cargo xtask crd-schemas` regenerates
//! data/crd-schemas/ (crd_schemas.rs), `cargo xtask k8s-schemas`
//! data/k8s-schemas/ (k8s_schemas.rs).
//!
//! `golden/<example>/<format>/` is the tree `fleetc render --format <format>`
//! writes for `examples/<example>/`, for every format the example compiles in
//! (a Helm component cannot be carried by `plain`: no golden tree then, and
//! the golden test checks that the render fails).
// Tooling, not the product: it reads the clock and the environment freely.
#![allow(clippy::disallowed_methods)]

mod bench;
mod crd_schemas;
mod docs;
mod generated;
mod house;
mod k8s_schemas;
mod profile;
mod synth;
mod synth_policies;
mod tools;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

pub(crate) fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// "Today" as `fleetc` decides it without `--today`: `SOURCE_DATE_EPOCH`,
/// else the clock (golden trees must equal what the CLI renders).
pub(crate) fn today() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    fleetc::date::today(
        None,
        std::env::var("SOURCE_DATE_EPOCH").ok().as_deref(),
        now,
    )
    .unwrap_or_else(|_| fleetc::date::date_of_epoch(now))
}

fn examples() -> Result<Vec<(String, PathBuf)>> {
    let mut v = Vec::new();
    for e in std::fs::read_dir(root().join("examples"))? {
        let e = e?;
        if e.path().join("fleet.yaml").is_file() {
            v.push((e.file_name().to_string_lossy().into_owned(), e.path()));
        }
    }
    v.sort();
    Ok(v)
}

/// Output path → bytes.
type Files = BTreeMap<String, Vec<u8>>;

const FORMATS: [&str; 3] = ["flux", "argocd", "plain"];

/// The rendered tree of one example in one format, exactly as `fleetc render`
/// writes it (minus the marker); None when the example does not compile in it.
fn render(path: &Path, format: &str) -> Result<Option<Files>> {
    let fs = fleetc::source::read_dir(path, &Default::default())
        .map_err(|d| anyhow::anyhow!("{}", d.render(false)))?;
    let opts = fleetc::driver::Options {
        format: fleetc::load::model::Format::parse(format),
        ..fleetc::driver::Options::new(today())
    };
    let (compiled, _) = fleetc::driver::compile(&fs, &opts);
    Ok(compiled.map(|c| c.tree.files))
}

/// Every (example, format) tree; an example must compile in at least its own format.
fn renders() -> Result<Vec<(String, Files)>> {
    let mut out = Vec::new();
    for (name, path) in examples()? {
        let mut any = false;
        for f in FORMATS {
            if let Some(files) = render(&path, f)? {
                out.push((format!("{name}/{f}"), files));
                any = true;
            }
        }
        if !any {
            let fs = fleetc::source::read_dir(&path, &Default::default())
                .map_err(|d| anyhow::anyhow!("{}", d.render(false)))?;
            let (_, diags) =
                fleetc::driver::compile(&fs, &fleetc::driver::Options::new(crate::today()));
            bail!(
                "{} does not compile:\n{}",
                path.display(),
                diags.render(false)
            );
        }
    }
    Ok(out)
}

fn read_golden(dir: &Path) -> Result<BTreeMap<String, Vec<u8>>> {
    let mut out = BTreeMap::new();
    if !dir.exists() {
        return Ok(out);
    }
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d)? {
            let e = e?;
            if e.file_type()?.is_dir() {
                stack.push(e.path());
            } else {
                let rel = e
                    .path()
                    .strip_prefix(dir)?
                    .to_string_lossy()
                    .replace('\\', "/");
                out.insert(rel, std::fs::read(e.path())?);
            }
        }
    }
    Ok(out)
}

fn bless() -> Result<()> {
    for (name, _) in examples()? {
        let dir = root().join("golden").join(&name);
        if dir.exists() {
            std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
        }
    }
    for (name, files) in renders()? {
        let dir = root().join("golden").join(&name);
        for (p, bytes) in &files {
            let f = dir.join(p);
            std::fs::create_dir_all(f.parent().expect("file has a parent"))?;
            std::fs::write(&f, bytes)?;
        }
        println!("blessed golden/{name} ({} files)", files.len());
    }
    Ok(())
}

fn check() -> Result<()> {
    crd_schemas::check()?;
    k8s_schemas::check()?;
    let mut stale = 0;
    let trees = renders()?;
    for (name, files) in &trees {
        let golden = read_golden(&root().join("golden").join(name))?;
        if *files != golden {
            let changed = files
                .iter()
                .filter(|(p, b)| golden.get(*p) != Some(b))
                .count()
                + golden.keys().filter(|p| !files.contains_key(*p)).count();
            eprintln!("golden/{name} is stale: {changed} files differ (run `cargo xtask bless` and review the diff)");
            stale += 1;
        } else {
            println!("golden/{name} is up to date ({} files)", files.len());
        }
    }
    for (example, _) in examples()? {
        for f in FORMATS {
            let name = format!("{example}/{f}");
            if root().join("golden").join(&name).exists() && !trees.iter().any(|(n, _)| *n == name)
            {
                eprintln!("golden/{name} exists but the example no longer compiles in that format");
                stale += 1;
            }
        }
    }
    if stale > 0 {
        bail!("{stale} golden trees are stale");
    }
    Ok(())
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("bless") => bless(),
        Some("check") => check()
            .and_then(|()| docs::check())
            .and_then(|()| house::check()),
        Some("docs") => docs::write(),
        Some("test") => tools::test(&args[1..]),
        Some("crd-schemas") => crd_schemas::generate(),
        Some("k8s-schemas") => k8s_schemas::generate(),
        Some("bench") => bench::run(&args[1..]),
        Some("profile") => profile::run(&args[1..]),
        _ => {
            eprintln!(
                "usage: cargo xtask <test|bless|check|docs|crd-schemas|k8s-schemas|bench|profile>"
            );
            eprintln!(
                "  test [ARGS...]  install what the tests need into target/test-tools/, then"
            );
            eprintln!("         run `cargo test --workspace --locked ARGS...`");
            eprintln!("  bless  rewrite golden/ from examples/ (deleting stale files)");
            eprintln!(
                "  check  fail when golden/, data/crd-schemas/, data/k8s-schemas/ or docs/diagnostics.md is stale,"
            );
            eprintln!("         an import points up the pipeline, long functions grow, or dependencies outgrow their budget");
            eprintln!("  docs   write docs/diagnostics.md from the codes and tests/it/cases/");
            eprintln!("  crd-schemas  regenerate data/crd-schemas/ from the pinned npm packages (needs npm)");
            eprintln!("  k8s-schemas  regenerate data/k8s-schemas/ from the pinned kubernetes-validate (PyPI)");
            eprintln!(
                "  bench  [--sizes 100,1000,10000] [--components 20] [--resources 6] [--runs 3]"
            );
            eprintln!("         [--kustomize-max 1000] [--dir target/bench]: fleetc vs cp -r and kustomize");
            eprintln!("         [--shards 4] [--in-memory-only | --sharded-only]: validate and diff alone, or the sharded rows alone");
            eprintln!("  profile [--size 1000]: time of one render, stage by stage");
            std::process::exit(2);
        }
    }
}
