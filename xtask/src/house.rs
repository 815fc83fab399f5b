//! The house rules `cargo xtask check` holds the code to:
//! - layering: each module of `src/` imports only modules below it
//!   ([`LAYERS`]; the binary in `src/cli/` may use anything);
//! - function length: functions over [`LONG`] lines outside the report
//!   formatters, at most [`MAX_LONG`];
//! - dependencies: the crates in fleetc's normal dependency tree, at most
//!   [`CRATE_BUDGET`].

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{bail, Result};

use crate::root;

/// The library's modules, lowest first: a module may import only the ones
/// before it. The first rows are the lower layer (diagnostics, dates,
/// suggestions, files, YAML, Kubernetes knowledge, the fleet schemas), then
/// the pipeline's stages in order, then what builds on them.
pub const LAYERS: &[&str] = &[
    "diag", "date", "suggest", "memo", "source", "yaml", "kube", "schema", // lower layer
    "load", "validate", "resolve", "render", "accept", "admit", "emit", // the stages
    "diff", "git", "driver", // comparing, git, running the stages
    "explain", "report", "promote", "scaffold", "import", // commands' libraries
];

/// A function longer than this many lines is long.
pub const LONG: usize = 80;
/// The most long functions allowed (outside src/report/, whose formatters
/// are long lists of output). Lower it when a function is split; split a
/// function rather than raise it.
pub const MAX_LONG: usize = 8;
/// Crates in `cargo tree -p fleetc -e normal` (fleetc included).
pub const CRATE_BUDGET: usize = 225;

fn rs_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map(|r| r.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rs_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// The code of a Rust file with comments, strings and char literals blanked
/// (so braces and `crate::` inside them do not count); lines are kept.
fn code_only(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'/' && b.get(i + 1) == Some(&b'/') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if c == b'/' && b.get(i + 1) == Some(&b'*') {
            i += 2;
            while i + 1 < b.len() && !(b[i] == b'*' && b[i + 1] == b'/') {
                if b[i] == b'\n' {
                    out.push('\n');
                }
                i += 1;
            }
            i += 2;
        } else if c == b'r'
            && (b.get(i + 1) == Some(&b'"') || b.get(i + 1) == Some(&b'#'))
            && (i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_'))
        {
            let mut j = i + 1;
            let mut hashes = 0;
            while b.get(j) == Some(&b'#') {
                hashes += 1;
                j += 1;
            }
            if b.get(j) != Some(&b'"') {
                out.push(c as char);
                i += 1;
                continue;
            }
            j += 1;
            let close: Vec<u8> = std::iter::once(b'"')
                .chain(std::iter::repeat_n(b'#', hashes))
                .collect();
            while j < b.len() && !b[j..].starts_with(&close) {
                if b[j] == b'\n' {
                    out.push('\n');
                }
                j += 1;
            }
            out.push_str("\"\"");
            i = j + close.len();
        } else if c == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' {
                    i += 1;
                }
                if b.get(i) == Some(&b'\n') {
                    out.push('\n');
                }
                i += 1;
            }
            out.push_str("\"\"");
            i += 1;
        } else if c == b'\'' && b.get(i + 2) == Some(&b'\'') {
            out.push_str("' '");
            i += 3;
        } else if c == b'\'' && b.get(i + 1) == Some(&b'\\') {
            // '\n', '\u{..}'
            let end = src[i + 2..].find('\'').map_or(b.len(), |e| i + 2 + e + 1);
            out.push_str("' '");
            i = end;
        } else {
            out.push(c as char);
            i += 1;
        }
    }
    out
}

/// The top-level `src/` module a file belongs to.
fn module_of(rel: &str) -> &str {
    let r = rel.trim_start_matches("src/");
    r.split(['/', '.']).next().unwrap_or(r)
}

/// Modules a file's code names through `crate::`.
fn imports(code: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 1;
            let mut item = String::new();
            let mut at_start = true;
            for ch in group.chars() {
                match ch {
                    '{' => depth += 1,
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    ',' if depth == 1 => {
                        at_start = true;
                        if !item.is_empty() {
                            out.insert(std::mem::take(&mut item));
                        }
                        continue;
                    }
                    _ => {}
                }
                if depth == 1 && at_start {
                    if ch.is_alphanumeric() || ch == '_' {
                        item.push(ch);
                    } else if !item.is_empty() || !ch.is_whitespace() {
                        at_start = false;
                    }
                }
            }
            if !item.is_empty() {
                out.insert(item);
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                out.insert(name);
            }
        }
    }
    out
}

/// Functions of `code` longer than [`LONG`] lines: (name, first line, lines).
fn long_functions(code: &str) -> Vec<(String, usize, usize)> {
    let lines: Vec<&str> = code.lines().collect();
    let mut out = Vec::new();
    for (n, line) in lines.iter().enumerate() {
        let t = line.trim_start();
        let t = t
            .strip_prefix("pub(crate) ")
            .or_else(|| t.strip_prefix("pub "))
            .unwrap_or(t);
        let Some(after) = t.strip_prefix("fn ") else {
            continue;
        };
        let name: String = after
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        // The body: from the first `{` after the signature to its match.
        let mut depth = 0i32;
        let mut opened = false;
        let mut end = n;
        'scan: for (m, l) in lines.iter().enumerate().skip(n) {
            for ch in l.chars() {
                match ch {
                    '{' => {
                        depth += 1;
                        opened = true;
                    }
                    '}' => depth -= 1,
                    ';' if !opened => break 'scan,
                    _ => {}
                }
                if opened && depth == 0 {
                    end = m;
                    break 'scan;
                }
            }
        }
        let len = end + 1 - n;
        if opened && len > LONG {
            out.push((name, n + 1, len));
        }
    }
    out
}

/// Layering and function length; prints what it finds, Err on a violation.
pub fn check() -> Result<()> {
    let root = root();
    let mut files = Vec::new();
    rs_files(&root.join("src"), &mut files);
    let mut bad = Vec::new();
    let mut long = Vec::new();
    for f in &files {
        let rel = f.strip_prefix(&root)?.to_string_lossy().replace('\\', "/");
        let code = code_only(&std::fs::read_to_string(f)?);
        let m = module_of(&rel);
        if m != "cli" && m != "lib" {
            let Some(mine) = LAYERS.iter().position(|l| *l == m) else {
                bail!("{rel}: module `{m}` is not in xtask/src/house.rs LAYERS; place it there");
            };
            for i in imports(&code) {
                if i == m || i == "self" || i == "super" {
                    continue;
                }
                match LAYERS.iter().position(|l| *l == i) {
                    Some(p) if p < mine => {}
                    _ => bad.push(format!("{rel}: `{m}` imports `{i}`, which is not below it")),
                }
            }
        }
        if !rel.starts_with("src/report/") {
            for (name, line, len) in long_functions(&code) {
                long.push(format!("{rel}:{line} {name} ({len} lines)"));
            }
        }
    }
    for l in &long {
        println!("long function: {l}");
    }
    println!(
        "{} functions over {LONG} lines outside src/report/ (at most {MAX_LONG})",
        long.len()
    );
    if !bad.is_empty() {
        for b in &bad {
            eprintln!("layering: {b}");
        }
        bail!(
            "{} imports point up the pipeline (see LAYERS in xtask/src/house.rs)",
            bad.len()
        );
    }
    println!(
        "layering: every import of src/ points down ({} modules)",
        LAYERS.len()
    );
    if long.len() > MAX_LONG {
        bail!(
            "{} long functions, over the {MAX_LONG} allowed: split the new ones",
            long.len()
        );
    }
    deps()
}

/// The crates in fleetc's normal dependency tree, against [`CRATE_BUDGET`].
fn deps() -> Result<()> {
    let o = std::process::Command::new(env!("CARGO"))
        .args([
            "tree", "-p", "fleetc", "-e", "normal", "--prefix", "none", "--locked",
        ])
        .current_dir(root())
        .output()?;
    if !o.status.success() {
        bail!("cargo tree failed: {}", String::from_utf8_lossy(&o.stderr));
    }
    let crates: BTreeSet<String> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            Some(format!("{} {}", w.next()?, w.next()?))
        })
        .collect();
    println!(
        "dependencies: {} crates in fleetc's normal tree (budget {CRATE_BUDGET})",
        crates.len()
    );
    if crates.len() > CRATE_BUDGET {
        bail!("{} crates, over the budget of {CRATE_BUDGET}: say why in the commit and raise it, or drop one", crates.len());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imports_are_found_in_paths_and_groups_not_in_comments_or_strings() {
        let code = code_only(
            "use crate::diag::{Code, Diagnostic};\nuse crate::{emit, load::model::Repo, resolve};\n// crate::git\nlet s = \"crate::report\";\nfn f() { crate::render::x(); }\n",
        );
        let got: Vec<String> = imports(&code).into_iter().collect();
        assert_eq!(got, ["diag", "emit", "load", "render", "resolve"]);
    }

    #[test]
    fn long_functions_are_measured_by_their_braces() {
        let body: String = (0..90).map(|i| format!("    let x{i} = '{{';\n")).collect();
        let code = code_only(&format!("fn short() {{\n}}\npub fn long() {{\n{body}}}\n"));
        assert_eq!(long_functions(&code), vec![("long".to_string(), 3, 92)]);
    }
}
