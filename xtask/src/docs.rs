//! `cargo xtask docs`: writes docs/diagnostics.md from the codes
//! (src/diag/code.rs: name, summary, fix) and the diagnostics cases
//! (tests/it/cases/: a real example of each). `cargo xtask check` fails
//! when the page is stale.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use anyhow::{Context, Result};
use fleetc::diag::Code;

use crate::root;

const PAGE: &str = "docs/diagnostics.md";

/// The page as it should be.
pub fn page() -> Result<String> {
    let cases = cases()?;
    let elsewhere = std::fs::read_to_string(root().join("tests/it/cases/ELSEWHERE"))?;
    let elsewhere: BTreeMap<&str, &str> = elsewhere
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once(' '))
        .map(|(c, f)| (c, f.trim()))
        .collect();
    let groups = groups()?;
    let mut s = String::new();
    s.push_str("# Diagnostics\n\n");
    s.push_str("<!-- Written by `cargo xtask docs` from src/diag/code.rs and tests/it/cases/; edit those, not this page. -->\n\n");
    s.push_str(
        "Every problem fleetc reports has a stable **code**, printed in brackets:\n\n\
         ```text\nerror[template-undefined]: undefined value\n --> components/web/templates/app.yaml.j2:6:15\n```\n\n\
         Codes never change meaning and are never reused, so a CI rule, a\n\
         SARIF alert or a test can name the kind of problem. Errors stop the\n\
         command (exit 2, nothing written); warnings do not, unless\n\
         `--deny-warnings` is given. With `--output-format json`, `sarif` or\n\
         `github`, the same diagnostics come as one document on stdout (see\n\
         [cli.md](cli.md); the JSON shape is `fleet-schema/diagnostics.schema.json`,\n\
         `fleetc schema Diagnostics`).\n\n\
         Each example below is the real output of fleetc on a test fleet in\n\
         `tests/it/cases/` (the case named under it).\n\n",
    );
    s.push_str("| code | what it means |\n|---|---|\n");
    for c in Code::ALL {
        let _ = writeln!(s, "| [`{0}`](#{0}) | {1} |", c.as_str(), c.summary());
    }
    for (title, codes) in &groups {
        let _ = write!(s, "\n## {title}\n");
        for c in codes {
            let _ = write!(s, "\n### {}\n\n{}.\n\n", c.as_str(), capital(c.summary()));
            if let Some((case, out)) = cases.get(c.as_str()) {
                let _ = write!(
                    s,
                    "Example (`tests/it/cases/{case}`):\n\n```text\n{out}```\n\n"
                );
            } else if let Some(f) = elsewhere.get(c.as_str()) {
                let _ = write!(s, "Shown by the tests in `{f}` (it needs a git history or a file-system fault to occur).\n\n");
            }
            let _ = writeln!(s, "**Fix:** {}", c.fix());
        }
    }
    Ok(s)
}

fn capital(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

/// The codes under their group comments in src/diag/code.rs, in order.
fn groups() -> Result<Vec<(String, Vec<Code>)>> {
    let src = std::fs::read_to_string(root().join("src/diag/code.rs"))?;
    let mut out: Vec<(String, Vec<Code>)> = Vec::new();
    for line in src.lines().map(str::trim) {
        if let Some(t) = line.strip_prefix("// ") {
            if !t.is_empty() && out.iter().all(|(g, _)| g != t) && t.ends_with('.') {
                out.push((t.trim_end_matches('.').to_string(), Vec::new()));
            }
        } else if let Some((_, rest)) = line.split_once(" = \"") {
            let name = rest.split('"').next().unwrap_or_default();
            if let (Some(c), Some(g)) = (Code::from_name(name), out.last_mut()) {
                g.1.push(c);
            }
        }
    }
    let listed: usize = out.iter().map(|(_, c)| c.len()).sum();
    anyhow::ensure!(
        listed == Code::ALL.len(),
        "src/diag/code.rs: {listed} codes under group comments, {} in all",
        Code::ALL.len()
    );
    Ok(out)
}

/// Code → (case name, the first diagnostic of its snapshot), from the first
/// case (by name) whose first diagnostic has that code, else any that shows it.
fn cases() -> Result<BTreeMap<String, (String, String)>> {
    let dir = root().join("tests/it/cases");
    let mut names: Vec<String> = std::fs::read_dir(&dir)?
        .flatten()
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('_'))
        .collect();
    names.sort();
    let mut first: BTreeMap<String, (String, String)> = BTreeMap::new();
    let mut any: BTreeMap<String, (String, String)> = BTreeMap::new();
    for n in names {
        let snap = std::fs::read_to_string(dir.join(&n).join("stderr.snap"))
            .with_context(|| format!("tests/it/cases/{n}/stderr.snap"))?;
        // Drop insta's header (between the first two `---` lines).
        let body = snap.splitn(3, "---\n").nth(2).unwrap_or(&snap);
        for (i, block) in blocks(body).into_iter().enumerate() {
            let Some(code) = code_of(&block) else {
                continue;
            };
            let entry = (n.clone(), block);
            if i == 0 {
                first.entry(code.clone()).or_insert_with(|| entry.clone());
            }
            any.entry(code).or_insert(entry);
        }
    }
    for (c, e) in any {
        first.entry(c).or_insert(e);
    }
    Ok(first)
}

/// The diagnostics of one human output, each with its lines (the final
/// "aborting" line dropped).
fn blocks(body: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in body.lines() {
        if line.starts_with("error: aborting") {
            continue;
        }
        if code_of(line).is_some() {
            out.push(String::new());
        }
        if let Some(b) = out.last_mut() {
            b.push_str(line);
            b.push('\n');
        }
    }
    for b in &mut out {
        while b.ends_with("\n\n") {
            b.pop();
        }
    }
    out
}

fn code_of(line: &str) -> Option<String> {
    let rest = line
        .strip_prefix("error[")
        .or_else(|| line.strip_prefix("warning["))?;
    Some(rest.split(']').next()?.to_string())
}

/// `cargo xtask docs`.
pub fn write() -> Result<()> {
    let p = root().join(PAGE);
    std::fs::create_dir_all(p.parent().expect("docs/"))?;
    std::fs::write(&p, page()?)?;
    println!("wrote {PAGE}");
    Ok(())
}

/// Part of `cargo xtask check`: Err when the page is stale.
pub fn check() -> Result<()> {
    let want = page()?;
    let have = std::fs::read_to_string(root().join(PAGE)).unwrap_or_default();
    anyhow::ensure!(
        want == have,
        "{PAGE} is stale: run `cargo xtask docs` and commit it"
    );
    println!("{PAGE} is up to date");
    Ok(())
}
