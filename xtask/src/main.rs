//! Project chores: `cargo xtask bless` rewrites golden/ from examples/;
//! `cargo xtask check` fails when golden/ is stale.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
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

/// The rendered tree of one example, exactly as `fleetc render` writes it (minus the marker).
fn render(path: &Path) -> Result<BTreeMap<String, Vec<u8>>> {
    let fs = fleetc::source::read_dir(path, &Default::default())
        .map_err(|d| anyhow::anyhow!("{}", d.render(false)))?;
    let (compiled, diags) = fleetc::compile(&fs, &fleetc::Options::default());
    match compiled {
        Some(c) => Ok(c.tree.files),
        None => bail!(
            "{} does not compile:\n{}",
            path.display(),
            diags.render(false)
        ),
    }
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
    for (name, path) in examples()? {
        let files = render(&path)?;
        let dir = root().join("golden").join(&name);
        if dir.exists() {
            std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
        }
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
    let mut stale = 0;
    for (name, path) in examples()? {
        let files = render(&path)?;
        let golden = read_golden(&root().join("golden").join(&name))?;
        if files != golden {
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
    if stale > 0 {
        bail!("{stale} golden trees are stale");
    }
    Ok(())
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("bless") => bless(),
        Some("check") => check(),
        _ => {
            eprintln!("usage: cargo xtask <bless|check>");
            eprintln!("  bless  rewrite golden/ from examples/ (deleting stale files)");
            eprintln!("  check  fail when golden/ differs from a fresh render");
            std::process::exit(2);
        }
    }
}
