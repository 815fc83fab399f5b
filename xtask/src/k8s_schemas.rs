//! `cargo xtask k8s-schemas`: regenerates `data/k8s-schemas/`, the OpenAPI
//! schemas of the built-in Kubernetes kinds for every minor fleetc knows
//! (1.25–1.37), from the PyPI package kubernetes-validate pinned in
//! `xtask/test-tools/requirements.txt` (installed into the test tools' venv,
//! as `cargo xtask test` does; needs python3 and access to PyPI).
//!
//! The input is each `kubernetes-json-schema/v1.NN.0-local-strict/_definitions.json`
//! of the package. The output keeps only what `fleetc::kube::api::validate`
//! uses, in a compact form (see `compact`), and stores each definition once
//! per distinct body with the minors it applies to: most definitions are
//! identical across minors. `SOURCES.md` records digests of the inputs (the
//! pinned package line and this generator) and of the output, which
//! `cargo xtask check` compares offline, as for data/crd-schemas/.
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde_json::{json, Map, Value as Json};
use sha2::{Digest, Sha256};

use crate::generated::{hex, sorted};
use crate::root;
use fleetc::emit::sha256_hex;

/// The Kubernetes minors in the data.
const MINORS: std::ops::RangeInclusive<u32> = 25..=37;
/// The output file (one, so that fleetc embeds one string).
const OUT: &str = "schemas.json";
const PACKAGE: &str = "kubernetes-validate";

fn out_dir() -> PathBuf {
    root().join("data/k8s-schemas")
}

/// The pinned `kubernetes-validate==X` line of the test tools' requirements.
fn pinned() -> Result<String> {
    let req = std::fs::read_to_string(root().join("xtask/test-tools/requirements.txt"))?;
    req.lines()
        .find(|l| l.starts_with(&format!("{PACKAGE}==")))
        .map(str::to_string)
        .context("xtask/test-tools/requirements.txt pins no kubernetes-validate")
}

/// Digest of what the output is made from: the pinned package and this generator.
fn inputs_digest() -> Result<String> {
    let mut h = Sha256::new();
    h.update(pinned()?.as_bytes());
    h.update([0]);
    h.update(std::fs::read(root().join("xtask/src/k8s_schemas.rs"))?);
    Ok(hex(&h.finalize()))
}

/// Keys of the input that the validator does not need (documentation, patch
/// and apply hints, the schema's own identity).
const IGNORED: &[&str] = &[
    "description",
    "x-kubernetes-patch-strategy",
    "x-kubernetes-patch-merge-key",
    "x-kubernetes-map-type",
    "x-kubernetes-unions",
    "x-kubernetes-group-version-kind",
    "default",
    "title",
    "$schema",
    "$id",
];

/// Formats whose values the API server refuses when they do not decode:
/// `byte` ([]byte, base64), `date-time` (metav1.Time, RFC 3339), `int32` and
/// `int64` (Go integers: out of range fails). `double` accepts any number.
const FORMATS: &[&str] = &["byte", "date-time", "int32", "int64"];

/// The type letters: one per JSON type, `z` for null.
fn type_letters(t: &Json, out: &mut BTreeSet<char>) -> Result<()> {
    let names: Vec<&str> = match t {
        Json::String(s) => vec![s.as_str()],
        Json::Array(a) => a.iter().filter_map(Json::as_str).collect(),
        _ => bail!("type is {t}"),
    };
    for n in names {
        out.insert(match n {
            "string" => 's',
            "integer" => 'i',
            "number" => 'n',
            "boolean" => 'b',
            "object" => 'o',
            "array" => 'a',
            "null" => 'z',
            _ => bail!("unknown type {n}"),
        });
    }
    Ok(())
}

/// One schema in the compact form: `$` a definition's name (for `$ref`), `t`
/// the type letters, `p` properties, `x` closed (additionalProperties false),
/// `m` the schema of a map's values, `i` items, `r` required, `e` enum, `f`
/// format, `lt`/`lk` list type and map keys, `pu` preserve unknown fields,
/// `er` embedded resource. A `oneOf` of bare types (IntOrString, Quantity)
/// becomes their union. Anything else the input says is an error here, so
/// that the validator never silently ignores a rule.
fn compact(s: &Json) -> Result<Json> {
    let m = s.as_object().context("schema is not an object")?;
    let mut out = BTreeMap::new();
    let mut types = BTreeSet::new();
    for (k, v) in m {
        match k.as_str() {
            k if IGNORED.contains(&k) => {}
            "$ref" => {
                let r = v.as_str().context("$ref")?;
                let name = r.rsplit_once("$defs/").context("$ref form")?.1;
                out.insert("$", json!(name));
            }
            "type" => type_letters(v, &mut types)?,
            "x-kubernetes-int-or-string" => {
                types.extend(['i', 's']);
            }
            "oneOf" => {
                for b in v.as_array().context("oneOf")? {
                    let bm = b.as_object().context("oneOf branch")?;
                    if bm.len() != 1 || !bm.contains_key("type") {
                        bail!("oneOf branch is not a bare type: {b}");
                    }
                    type_letters(&bm["type"], &mut types)?;
                }
            }
            "properties" => {
                let mut p = Map::new();
                for (name, ps) in v.as_object().context("properties")? {
                    p.insert(name.clone(), compact(ps).with_context(|| name.clone())?);
                }
                out.insert("p", Json::Object(p));
            }
            "additionalProperties" => match v {
                Json::Bool(false) => {
                    out.insert("x", json!(1));
                }
                Json::Bool(true) => {}
                _ => {
                    out.insert("m", compact(v)?);
                }
            },
            "items" => {
                out.insert("i", compact(v)?);
            }
            "required" => {
                out.insert("r", v.clone());
            }
            "enum" => {
                out.insert("e", v.clone());
            }
            "format" => {
                let f = v.as_str().context("format")?;
                if FORMATS.contains(&f) {
                    out.insert("f", v.clone());
                } else if f != "double" {
                    bail!("unknown format {f}");
                }
            }
            "x-kubernetes-list-type" => match v.as_str() {
                Some("atomic") => {}
                Some("map" | "set") => {
                    out.insert("lt", v.clone());
                }
                _ => bail!("list type {v}"),
            },
            "x-kubernetes-list-map-keys" => {
                out.insert("lk", v.clone());
            }
            "x-kubernetes-preserve-unknown-fields" => {
                if v == &json!(true) {
                    out.insert("pu", json!(1));
                }
            }
            "x-kubernetes-embedded-resource" => {
                if v == &json!(true) {
                    out.insert("er", json!(1));
                }
            }
            other => bail!("unhandled schema keyword {other}"),
        }
    }
    if !types.is_empty() {
        out.insert("t", json!(types.into_iter().collect::<String>()));
    }
    Ok(sorted(&serde_json::to_value(out)?))
}

/// The kubernetes-validate package in the test tools' venv (installed when
/// missing or stale, as `cargo xtask test` does).
fn package_dir() -> Result<PathBuf> {
    crate::tools::python_tools(&crate::tools::tools_dir())?;
    let lib = crate::tools::tools_dir().join("venv/lib");
    for py in std::fs::read_dir(&lib)?.flatten() {
        let p = py.path().join("site-packages/kubernetes_validate");
        if p.is_dir() {
            return Ok(p);
        }
    }
    bail!("no kubernetes_validate in {}", lib.display())
}

/// The license of the installed distribution, from its dist-info.
fn license(pkg: &Path) -> Result<String> {
    let sp = pkg.parent().context("site-packages")?;
    for e in std::fs::read_dir(sp)?.flatten() {
        let n = e.file_name().to_string_lossy().into_owned();
        if n.starts_with("kubernetes_validate-") && n.ends_with(".dist-info") {
            let meta = std::fs::read_to_string(e.path().join("METADATA"))?;
            let lic = meta
                .lines()
                .find_map(|l| l.strip_prefix("License: "))
                .unwrap_or("?");
            let file = std::fs::read_to_string(e.path().join("licenses/LICENSE"))?;
            let apache = file.contains("Apache License, Version 2.0");
            return Ok(format!(
                "{lic} (dist-info licenses/LICENSE: {})",
                if apache {
                    "Apache License, Version 2.0"
                } else {
                    "see the file"
                }
            ));
        }
    }
    bail!("no kubernetes_validate dist-info next to {}", pkg.display())
}

type Variants = BTreeMap<String, Vec<(Vec<u32>, Json)>>;
type Gvks = BTreeMap<String, Vec<(Vec<u32>, String)>>;

/// Adds `minor` to the variant equal to `body`, or a new variant.
fn add_variant<T: PartialEq>(list: &mut Vec<(Vec<u32>, T)>, minor: u32, body: T) {
    match list.iter_mut().find(|(_, b)| *b == body) {
        Some((ms, _)) => ms.push(minor),
        None => list.push((vec![minor], body)),
    }
}

/// Reads one minor's definitions into the variants and GVKs.
fn read_minor(pkg: &Path, minor: u32, defs: &mut Variants, gvks: &mut Gvks) -> Result<u64> {
    let p = pkg.join(format!(
        "kubernetes-json-schema/v1.{minor}.0-local-strict/_definitions.json"
    ));
    let text = std::fs::read(&p).with_context(|| format!("reading {}", p.display()))?;
    let all: Json = serde_json::from_slice(&text)?;
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    for (name, s) in all["$defs"].as_object().context("$defs")? {
        let body = compact(s).with_context(|| format!("1.{minor} {name}"))?;
        add_variant(defs.entry(name.clone()).or_default(), minor, body);
        for g in s["x-kubernetes-group-version-kind"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let (gr, v, k) = (
                g["group"].as_str().unwrap_or_default(),
                g["version"].as_str().unwrap_or_default(),
                g["kind"].as_str().unwrap_or_default(),
            );
            let key = if gr.is_empty() {
                format!("{v} {k}")
            } else {
                format!("{gr}/{v} {k}")
            };
            if let Some(prev) = seen.insert(key.clone(), name.clone()) {
                bail!("1.{minor}: {key} is both {prev} and {name}");
            }
            add_variant(gvks.entry(key).or_default(), minor, name.clone());
        }
    }
    Ok(text.len() as u64)
}

pub(crate) fn generate() -> Result<()> {
    let pkg = package_dir()?;
    let mut defs = Variants::new();
    let mut gvks = Gvks::new();
    let mut input_bytes = 0;
    let mut input_digest = Sha256::new();
    for minor in MINORS {
        input_bytes += read_minor(&pkg, minor, &mut defs, &mut gvks)?;
        input_digest.update(std::fs::read(pkg.join(format!(
            "kubernetes-json-schema/v1.{minor}.0-local-strict/_definitions.json"
        )))?);
    }
    let variants: usize = defs.values().map(Vec::len).sum();
    let doc = json!({
        "minors": [MINORS.start(), MINORS.end()],
        "defs": defs,
        "gvks": gvks,
    });
    let mut text = serde_json::to_string(&sorted(&doc))?;
    text.push('\n');
    let dir = out_dir();
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join(OUT), &text)?;
    println!(
        "wrote data/k8s-schemas/{OUT} ({} bytes; {} definitions in {variants} distinct bodies, \
         {} GVKs; from {input_bytes} bytes of _definitions.json)",
        text.len(),
        defs.len(),
        gvks.len()
    );
    let upstream = hex(&input_digest.finalize());
    let md = sources_md(
        &pinned()?,
        &license(&pkg)?,
        &upstream,
        &inputs_digest()?,
        &sha256_hex(text.as_bytes()),
    );
    std::fs::write(dir.join("SOURCES.md"), md)?;
    println!("wrote data/k8s-schemas/SOURCES.md");
    Ok(())
}

fn sources_md(pin: &str, license: &str, upstream: &str, inputs: &str, out: &str) -> String {
    let version = pin.trim_start_matches(&format!("{PACKAGE}=="));
    format!(
        "# Kubernetes API schemas (generated)\n\
\n\
The OpenAPI schemas of the built-in Kubernetes kinds for Kubernetes 1.{lo}\n\
to 1.{hi}, in the compact form `fleetc::kube::api` reads (embedded in the\n\
binary). They are generated, not written: do not edit them.\n\
\n\
Regenerate with `cargo xtask k8s-schemas` (needs python3 and access to\n\
PyPI). It installs `xtask/test-tools/requirements.txt` into the test tools'\n\
venv (as `cargo xtask test` does), reads\n\
`kubernetes_validate/kubernetes-json-schema/v1.NN.0-local-strict/_definitions.json`\n\
for every minor, keeps only what the validator uses (types, nullability,\n\
properties, closed objects, map values, items, required, enums, the formats\n\
the API server decodes, list types and map keys, preserve-unknown-fields,\n\
embedded resources; no descriptions), and stores each definition once per\n\
distinct body with the minors it applies to, and each group/version/kind\n\
with the minors that serve it and its definition. `cargo xtask check`\n\
compares the digests below offline.\n\
\n\
## Source (PyPI)\n\
\n\
| package | version | license |\n\
|---|---|---|\n\
| `{PACKAGE}` | {version} | {license} |\n\
\n\
kubernetes-validate carries the Kubernetes OpenAPI definitions converted to\n\
JSON Schema (its fork of kubernetes-json-schema, from the Kubernetes\n\
project's Apache-2.0 OpenAPI specs); the package's license text is in its\n\
dist-info.\n\
\n\
## Digests\n\
\n\
```\n\
inputs {inputs}\n\
upstream {upstream}\n\
{out}  {OUT}\n\
```\n",
        lo = MINORS.start(),
        hi = MINORS.end(),
    )
}

/// Offline freshness: the recorded digests match the inputs and the file.
pub(crate) fn check() -> Result<()> {
    let dir = out_dir();
    let md = std::fs::read_to_string(dir.join("SOURCES.md"))
        .context("data/k8s-schemas/SOURCES.md is missing (run `cargo xtask k8s-schemas`)")?;
    let block = md.split("```\n").nth(1).unwrap_or_default();
    let mut recorded_inputs = None;
    let mut recorded_out = None;
    for line in block.lines() {
        if let Some(h) = line.strip_prefix("inputs ") {
            recorded_inputs = Some(h.to_string());
        } else if let Some((h, name)) = line.split_once("  ") {
            if name == OUT {
                recorded_out = Some(h.to_string());
            }
        }
    }
    let mut problems = Vec::new();
    if recorded_inputs.as_deref() != Some(inputs_digest()?.as_str()) {
        problems.push(
            "the kubernetes-validate pin or xtask/src/k8s_schemas.rs changed since the schemas \
             were generated"
                .to_string(),
        );
    }
    let present: Vec<String> = std::fs::read_dir(&dir)?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != "SOURCES.md")
        .collect();
    match std::fs::read(dir.join(OUT)) {
        Ok(b) if recorded_out.as_deref() == Some(sha256_hex(&b).as_str()) => {}
        Ok(_) => problems.push(format!("{OUT} differs from what was generated")),
        Err(_) => problems.push(format!("{OUT} is missing")),
    }
    for n in present.iter().filter(|n| *n != OUT) {
        problems.push(format!("{n} was not generated"));
    }
    if !problems.is_empty() {
        bail!(
            "data/k8s-schemas is stale:\n  {}\nrun `cargo xtask k8s-schemas` and commit the result",
            problems.join("\n  ")
        );
    }
    println!("data/k8s-schemas is up to date");
    Ok(())
}
