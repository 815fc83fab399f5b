//! `cargo xtask crd-schemas`: regenerates `data/crd-schemas/`, the JSON
//! Schemas of the Flux and Argo CD kinds fleetc emits, from the npm packages
//! pinned in `xtask/crd-schemas/package-lock.json` (needs node and npm with
//! access to the npm registry). `xtask/crd-schemas/extract.mjs` says how the
//! schemas are rebuilt from the packages' compiled validators and how that is
//! checked; the golden trees' objects are its samples.
//!
//! The output is deterministic: object keys sorted, minified, one file per
//! kind. `SOURCES.md` names the packages, their versions and licenses, and
//! records digests of the inputs (the lock and the extractor) and of every
//! output file, which `cargo xtask check` compares offline: a hand edit or a
//! changed input without a regeneration fails it.
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};
use serde_json::Value as Json;
use sha2::{Digest, Sha256};

use crate::generated::{hex, sorted};
use crate::root;
use fleetc::emit::sha256_hex;

const KINDS: [&str; 6] = [
    "kustomize.toolkit.fluxcd.io/v1 Kustomization",
    "helm.toolkit.fluxcd.io/v2 HelmRelease",
    "source.toolkit.fluxcd.io/v1 GitRepository",
    "source.toolkit.fluxcd.io/v1 HelmRepository",
    "source.toolkit.fluxcd.io/v1 OCIRepository",
    "argoproj.io/v1alpha1 Application",
];

fn out_dir() -> PathBuf {
    root().join("data/crd-schemas")
}

fn src_dir() -> PathBuf {
    root().join("xtask/crd-schemas")
}

/// Digest of what the output is made from.
fn inputs_digest() -> Result<String> {
    let mut h = Sha256::new();
    for f in ["package.json", "package-lock.json", "extract.mjs"] {
        let p = src_dir().join(f);
        let b = std::fs::read(&p).with_context(|| format!("reading {}", p.display()))?;
        h.update(f.as_bytes());
        h.update([0]);
        h.update((b.len() as u64).to_le_bytes());
        h.update(&b);
    }
    Ok(hex(&h.finalize()))
}

/// Every emitted object of the six kinds in golden/, as samples for the
/// extractor's self-check.
fn samples() -> Result<BTreeMap<String, Vec<Json>>> {
    let mut out: BTreeMap<String, Vec<Json>> =
        KINDS.iter().map(|k| (k.to_string(), vec![])).collect();
    let mut stack = vec![root().join("golden")];
    while let Some(d) = stack.pop() {
        let mut entries: Vec<_> = std::fs::read_dir(&d)?.flatten().map(|e| e.path()).collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "yaml") {
                let text = std::fs::read_to_string(&p)?;
                let src = fleetc::diag::Source::new(p.to_string_lossy(), text);
                let docs = fleetc::yaml::parse_documents(&src, &Default::default())
                    .map_err(|e| anyhow::anyhow!("{}: {}", p.display(), e.message))?;
                for d in docs {
                    let j = d.to_json();
                    let key = format!(
                        "{} {}",
                        j["apiVersion"].as_str().unwrap_or_default(),
                        j["kind"].as_str().unwrap_or_default()
                    );
                    if let Some(v) = out.get_mut(&key) {
                        v.push(j);
                    }
                }
            }
        }
    }
    Ok(out)
}

pub(crate) fn generate() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    for f in ["package.json", "package-lock.json"] {
        std::fs::copy(src_dir().join(f), tmp.path().join(f))?;
    }
    println!(
        "npm ci in {} (xtask/crd-schemas/package-lock.json)",
        tmp.path().display()
    );
    let st = Command::new("npm")
        .args([
            "ci",
            "--ignore-scripts",
            "--no-audit",
            "--no-fund",
            "--loglevel=error",
        ])
        .current_dir(tmp.path())
        .status()
        .context("running npm (cargo xtask crd-schemas needs node and npm)")?;
    if !st.success() {
        bail!("npm ci failed ({st})");
    }
    let nm = tmp.path().join("node_modules");

    let samples = serde_json::to_vec(&samples()?)?;
    let mut child = Command::new("node")
        .arg(src_dir().join("extract.mjs"))
        .arg(&nm)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .context("running node")?;
    let mut stdin = child.stdin.take().expect("piped stdin");
    let writer = std::thread::spawn(move || stdin.write_all(&samples));
    let o = child.wait_with_output()?;
    writer.join().expect("writer thread")?;
    if !o.status.success() {
        bail!("xtask/crd-schemas/extract.mjs failed ({})", o.status);
    }
    let result: Json = serde_json::from_slice(&o.stdout).context("extract.mjs output")?;

    let dir = out_dir();
    std::fs::create_dir_all(&dir)?;
    for e in std::fs::read_dir(&dir)?.flatten() {
        if e.path().extension().is_some_and(|x| x == "json") {
            std::fs::remove_file(e.path())?;
        }
    }
    let mut files = BTreeMap::new();
    for (name, schema) in result["schemas"].as_object().context("schemas")? {
        let mut text = serde_json::to_string(&sorted(schema))?;
        text.push('\n');
        std::fs::write(dir.join(name), &text)?;
        println!("wrote data/crd-schemas/{name} ({} bytes)", text.len());
        files.insert(name.clone(), sha256_hex(text.as_bytes()));
    }

    let mut packages = String::new();
    for p in result["packages"].as_array().context("packages")? {
        let name = p.as_str().context("package name")?;
        let meta: Json = serde_json::from_str(&std::fs::read_to_string(
            nm.join(name).join("package.json"),
        )?)?;
        packages.push_str(&format!(
            "| `{name}` | {} | {} |\n",
            meta["version"].as_str().unwrap_or("?"),
            meta["license"].as_str().unwrap_or("?")
        ));
    }
    std::fs::write(
        dir.join("SOURCES.md"),
        sources_md(&packages, &inputs_digest()?, &files),
    )?;
    println!("wrote data/crd-schemas/SOURCES.md");
    Ok(())
}

fn sources_md(packages: &str, inputs: &str, files: &BTreeMap<String, String>) -> String {
    let mut digests = String::new();
    for (name, h) in files {
        digests.push_str(&format!("{h}  {name}\n"));
    }
    format!(
        "# Flux and Argo CD CRD schemas (generated)\n\
\n\
JSON Schemas (draft 2020-12, minified, keys sorted) of the Flux and Argo CD\n\
kinds fleetc emits, one file per `<group>_<version>_<kind>.json`, for\n\
tests/it/crds.rs. They are generated, not written: do not edit them.\n\
\n\
Regenerate with `cargo xtask crd-schemas` (needs node and npm with access to\n\
the npm registry). It installs the packages pinned in\n\
`xtask/crd-schemas/package-lock.json` into a temp dir and runs\n\
`xtask/crd-schemas/extract.mjs`, which rebuilds each schema from the\n\
packages' compiled validators (the packages ship Ajv standalone code, not\n\
schema data; each check and subschema is read back from that code, and\n\
references are inlined) and checks the result: the package's validator and\n\
the rebuilt schema agree on every emitted object in golden/ and thousands of\n\
mutations of them, and every property of the packages' type declarations is\n\
present. `cargo xtask check` compares the digests below offline.\n\
\n\
## Sources (npm registry)\n\
\n\
| package | version | license |\n\
|---|---|---|\n\
{packages}\
\n\
`flux-cd` and `argo-cd` are generated by their author from the Flux and Argo\n\
CD Go API types, `apimachinery` (ObjectMeta) and `kubernetes-models` (the\n\
free-form JSON type) from Kubernetes' OpenAPI definitions; the MIT license\n\
text is in each package. acorn (MIT) parses the validators and ajv (MIT)\n\
runs the self-check; neither is part of the output.\n\
\n\
## Digests\n\
\n\
```\n\
inputs {inputs}\n\
{digests}\
```\n"
    )
}

/// Offline freshness: the recorded digests match the inputs and the files.
pub(crate) fn check() -> Result<()> {
    let dir = out_dir();
    let md = std::fs::read_to_string(dir.join("SOURCES.md"))
        .context("data/crd-schemas/SOURCES.md is missing (run `cargo xtask crd-schemas`)")?;
    let mut recorded_inputs = None;
    let mut recorded: BTreeMap<String, String> = BTreeMap::new();
    let block = md.split("```\n").nth(1).unwrap_or_default();
    for line in block.lines() {
        if let Some(h) = line.strip_prefix("inputs ") {
            recorded_inputs = Some(h.to_string());
        } else if let Some((h, name)) = line.split_once("  ") {
            recorded.insert(name.to_string(), h.to_string());
        }
    }
    let mut problems = Vec::new();
    if recorded_inputs.as_deref() != Some(inputs_digest()?.as_str()) {
        problems.push(
            "xtask/crd-schemas/ (package.json, package-lock.json or extract.mjs) changed since \
             the schemas were generated"
                .to_string(),
        );
    }
    let mut present = BTreeMap::new();
    for e in std::fs::read_dir(&dir)?.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.ends_with(".json") {
            present.insert(name, sha256_hex(&std::fs::read(e.path())?));
        }
    }
    for (name, h) in &recorded {
        match present.get(name) {
            None => problems.push(format!("{name} is missing")),
            Some(p) if p != h => problems.push(format!("{name} differs from what was generated")),
            Some(_) => {}
        }
    }
    for name in present.keys().filter(|n| !recorded.contains_key(*n)) {
        problems.push(format!("{name} was not generated"));
    }
    if recorded.is_empty() {
        problems.push("SOURCES.md records no files".into());
    }
    if !problems.is_empty() {
        bail!(
            "data/crd-schemas is stale:\n  {}\nrun `cargo xtask crd-schemas` (needs npm) and commit the result",
            problems.join("\n  ")
        );
    }
    println!(
        "data/crd-schemas is up to date ({} schemas)",
        recorded.len()
    );
    Ok(())
}
