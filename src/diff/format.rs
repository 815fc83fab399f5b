//! The three faces of a [`Report`]: `text` for a terminal or CI log,
//! `markdown` for a PR comment (bounded by `--max-bytes`, whole blocks only,
//! every fence closed, what did not fit named), and `json` (stable fields).

use std::fmt::Write as _;

use serde_json::json;

use super::{Block, Op, Report, WholeCluster};
use crate::diag::plural;

/// The hidden marker a CI job finds its own comment by.
pub const MARKER: &str = "<!-- fleetc:diff -->";

fn symbol(op: Op) -> &'static str {
    match op {
        Op::Added => "+",
        Op::Changed => "~",
        Op::Removed => "-",
    }
}

/// One line: what changes where.
pub fn verdict(r: &Report) -> String {
    if r.is_empty() {
        return format!(
            "no changes ({} unchanged)",
            plural(r.clusters_total, "cluster", "clusters")
        );
    }
    format!(
        "{} of {} change: {} added, {} changed, {} removed",
        r.clusters_changed.len(),
        plural(r.clusters_total, "cluster", "clusters"),
        r.totals.added,
        r.totals.changed,
        r.totals.removed
    )
}

/// Where a block applies, short: a group, one cluster, or the first few.
fn where_short(b: &Block) -> String {
    match (&b.group, b.clusters.as_slice()) {
        (Some(g), cs) => format!("group {g} ({})", plural(cs.len(), "cluster", "clusters")),
        (None, [c]) => format!("cluster {c}"),
        (None, cs) => {
            let shown: Vec<&str> = cs.iter().take(8).map(String::as_str).collect();
            let more = cs.len().saturating_sub(shown.len());
            let tail = if more > 0 {
                format!(", and {more} more")
            } else {
                String::new()
            };
            format!("{} clusters: {}{tail}", cs.len(), shown.join(", "))
        }
    }
}

fn object_line(b: &Block) -> String {
    let o = &b.change.object;
    if o.kind.is_empty() {
        return String::new();
    }
    match &o.namespace {
        Some(ns) => format!("{} {ns}/{}", o.kind, o.name),
        None => format!("{} {}", o.kind, o.name),
    }
}

fn notes(b: &Block) -> Vec<String> {
    let mut v = Vec::new();
    if b.change.encrypted {
        v.push("SOPS-encrypted file: content not shown".to_string());
    }
    if let Some(keys) = &b.change.secret_keys {
        if keys.is_empty() {
            v.push("Secret: values hidden; no value changed".to_string());
        } else {
            v.push(format!(
                "Secret: values hidden; keys changed: {}",
                keys.join(", ")
            ));
        }
    }
    if b.clusters.len() > 1 && b.change.diff.contains(&b.change.cluster) {
        v.push(format!(
            "shown for {}; on the other clusters only the cluster's own name differs",
            b.change.cluster
        ));
    }
    v
}

// ---- text -------------------------------------------------------------

/// What a cluster only one side has holds, after its name: ` (new): 38
/// objects in 41 files: 12 ConfigMap, 8 Deployment, …` (most numerous
/// kinds first).
fn whole_line(w: &WholeCluster) -> String {
    let what = if w.op == Op::Added { "new" } else { "removed" };
    let mut kinds: Vec<(&String, &usize)> = w.kinds.iter().collect();
    kinds.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let objects: usize = w.kinds.values().sum();
    let list: Vec<String> = kinds.iter().map(|(k, n)| format!("{n} {k}")).collect();
    format!(
        " ({what}): {} in {}: {}",
        plural(objects, "object", "objects"),
        plural(w.files, "file", "files"),
        list.join(", ")
    )
}

struct Paint(bool);

impl Paint {
    fn wrap(&self, code: &str, s: &str) -> String {
        if self.0 {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
}

fn summary_rows(r: &Report) -> Vec<[String; 5]> {
    r.units
        .iter()
        .map(|(name, (c, clusters))| {
            [
                name.clone(),
                clusters.len().to_string(),
                c.added.to_string(),
                c.changed.to_string(),
                c.removed.to_string(),
            ]
        })
        .collect()
}

pub fn text(r: &Report, color: bool) -> String {
    let p = Paint(color);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}",
        p.wrap("1", &format!("fleetc diff: {}", verdict(r)))
    );
    let _ = writeln!(out, "base {} → head {}", r.base, r.head);
    if r.is_empty() {
        return out;
    }
    let head = ["component", "clusters", "added", "changed", "removed"];
    let rows = summary_rows(r);
    let w0 = rows
        .iter()
        .map(|x| x[0].chars().count())
        .chain([head[0].len()])
        .max()
        .unwrap_or(0);
    out.push('\n');
    let _ = writeln!(
        out,
        "  {:<w0$}  {:>8}  {:>5}  {:>7}  {:>7}",
        head[0], head[1], head[2], head[3], head[4]
    );
    for row in &rows {
        let _ = writeln!(
            out,
            "  {:<w0$}  {:>8}  {:>5}  {:>7}  {:>7}",
            row[0], row[1], row[2], row[3], row[4]
        );
    }
    if !r.whole.is_empty() {
        out.push('\n');
        for (name, w) in &r.whole {
            let line = format!("{} cluster {name}{}", symbol(w.op), whole_line(w));
            let _ = writeln!(out, "{}", p.wrap("1", &line));
        }
        let _ = writeln!(
            out,
            "  (every file of these clusters: fleetc diff --verbose)"
        );
    }
    for b in &r.blocks {
        out.push('\n');
        let c = &b.change;
        let title = format!("{} {} ({})", symbol(c.op), c.path, c.op.as_str());
        let _ = writeln!(out, "{}", p.wrap("1", &title));
        let obj = object_line(b);
        let _ = writeln!(
            out,
            "  {}{}",
            if obj.is_empty() {
                String::new()
            } else {
                format!("{obj} · ")
            },
            where_short(b)
        );
        if b.clusters.len() > 1 && b.group.is_none() && b.clusters.len() > 8 {
            let _ = writeln!(out, "  clusters: {}", b.clusters.join(", "));
        }
        for n in notes(b) {
            let _ = writeln!(out, "  note: {n}");
        }
        for line in c.diff.lines() {
            let painted = match line.as_bytes().first() {
                Some(b'+') => p.wrap("32", line),
                Some(b'-') => p.wrap("31", line),
                Some(b'@') => p.wrap("36", line),
                _ => line.to_string(),
            };
            let _ = writeln!(out, "  {painted}");
        }
    }
    out
}

// ---- markdown ---------------------------------------------------------

/// Escape text for HTML contexts (`<summary>`, table cells).
fn html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('|', "&#124;")
}

/// A fence longer than any backtick run inside `body`.
fn fence(body: &str) -> String {
    let mut longest = 0;
    let mut run = 0;
    for ch in body.chars() {
        if ch == '`' {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    "`".repeat((longest + 1).max(3))
}

/// Diff text of one block, cut to about `cap` bytes at a line boundary.
fn capped(diff: &str, cap: usize) -> String {
    if diff.len() <= cap {
        return diff.to_string();
    }
    let mut out = String::new();
    let mut lines = diff.lines();
    for line in lines.by_ref() {
        if out.len() + line.len() + 1 > cap {
            let rest = 1 + lines.count();
            let _ = writeln!(
                out,
                "… {} not shown",
                plural(rest, "more line", "more lines")
            );
            return out;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

fn md_block(b: &Block, cap: usize) -> String {
    let c = &b.change;
    let risky = matches!(
        c.risk,
        super::Risk::Deletion | super::Risk::NamespaceOrCrd | super::Risk::Enforcement
    );
    let mut s = String::new();
    let obj = object_line(b);
    let _ = writeln!(
        s,
        "<details><summary>{}<code>{}</code> <b>{}</b>{} · {}</summary>\n",
        if risky { "⚠️ " } else { "" },
        html(&c.path),
        c.op.as_str(),
        if obj.is_empty() {
            String::new()
        } else {
            format!(" ({})", html(&obj))
        },
        html(&where_short(b))
    );
    if b.clusters.len() > 1 {
        let _ = writeln!(s, "Clusters: {}\n", html(&b.clusters.join(", ")));
    }
    for n in notes(b) {
        let _ = writeln!(s, "_{}_\n", html(&n));
    }
    if !c.diff.is_empty() {
        let body = capped(&c.diff, cap);
        let f = fence(&body);
        let _ = write!(s, "{f}diff\n{body}");
        if !body.ends_with('\n') {
            s.push('\n');
        }
        let _ = writeln!(s, "{f}\n");
    }
    s.push_str("</details>\n\n");
    s
}

/// The clusters that appear or disappear, one line each (empty: none).
fn md_whole(r: &Report) -> String {
    if r.whole.is_empty() {
        return String::new();
    }
    let mut section = String::from(
        "**Clusters that appear or disappear** (`fleetc diff --verbose` shows every file):\n\n",
    );
    for (name, w) in &r.whole {
        let _ = writeln!(
            section,
            "- <code>{}</code>{}",
            html(name),
            html(&whole_line(w))
        );
    }
    section.push('\n');
    section
}

/// Markdown for a PR comment, never longer than `max_bytes`.
pub fn markdown(r: &Report, max_bytes: usize) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{MARKER}");
    let _ = writeln!(out, "### fleetc diff: {}\n", verdict(r));
    let _ = writeln!(out, "base {} → head {}\n", html(&r.base), html(&r.head));
    if r.is_empty() {
        return out;
    }
    // The summary table, as many rows as fit in half the budget.
    let rows = summary_rows(r);
    let mut table = String::from(
        "| component | clusters | added | changed | removed |\n|---|---:|---:|---:|---:|\n",
    );
    let mut shown_rows = 0;
    for row in &rows {
        let line = format!(
            "| {} | {} | {} | {} | {} |\n",
            html(&row[0]),
            row[1],
            row[2],
            row[3],
            row[4]
        );
        if out.len() + table.len() + line.len() + 64 > max_bytes / 2 {
            break;
        }
        table.push_str(&line);
        shown_rows += 1;
    }
    if shown_rows < rows.len() {
        let _ = writeln!(table, "| … {} more | | | | |", rows.len() - shown_rows);
    }
    out.push_str(&table);
    out.push('\n');
    let section = md_whole(r);
    if out.len() + section.len() <= max_bytes / 2 {
        out.push_str(&section);
    }

    // Whole blocks, riskiest first, keeping room to name what does not fit.
    const RESERVE: usize = 1200;
    let cap = (max_bytes / 4).clamp(512, 16 * 1024);
    let mut omitted: Vec<&Block> = Vec::new();
    for b in &r.blocks {
        let s = md_block(b, cap);
        if omitted.is_empty() && out.len() + s.len() + RESERVE <= max_bytes {
            out.push_str(&s);
        } else {
            omitted.push(b);
        }
    }
    if !omitted.is_empty() {
        let mut note = format!(
            "**{} not shown** (this comment is limited to {max_bytes} bytes; `fleetc diff` prints them all):\n\n",
            plural(omitted.len(), "change", "changes")
        );
        let mut listed = 0;
        for b in &omitted {
            let line = format!(
                "- <code>{}</code> {} · {}\n",
                html(&b.change.path),
                b.change.op.as_str(),
                html(&where_short(b))
            );
            // leave room for the closing line
            if out.len() + note.len() + line.len() + 64 > max_bytes {
                break;
            }
            note.push_str(&line);
            listed += 1;
        }
        if listed < omitted.len() {
            let _ = writeln!(note, "- … and {} more", omitted.len() - listed);
        }
        if out.len() + note.len() <= max_bytes {
            out.push_str(&note);
        }
    }
    out
}

// ---- json -------------------------------------------------------------

pub fn json(r: &Report) -> serde_json::Value {
    let components: Vec<serde_json::Value> = r
        .units
        .iter()
        .map(|(name, (c, clusters))| {
            json!({
                "name": name,
                "clusters": clusters.len(),
                "added": c.added,
                "changed": c.changed,
                "removed": c.removed,
            })
        })
        .collect();
    let changes: Vec<serde_json::Value> = r
        .blocks
        .iter()
        .map(|b| {
            let c = &b.change;
            json!({
                "path": c.path,
                "component": c.unit,
                "op": c.op.as_str(),
                "risk": c.risk.as_str(),
                "object": {
                    "apiVersion": c.object.api_version,
                    "kind": c.object.kind,
                    "namespace": c.object.namespace,
                    "name": c.object.name,
                },
                "clusters": b.clusters,
                "group": b.group,
                "secretKeys": c.secret_keys,
                "encrypted": c.encrypted,
                "diff": c.diff,
            })
        })
        .collect();
    json!({
        "apiVersion": "fleetc.dev/v1alpha1",
        "kind": "Diff",
        "base": r.base,
        "head": r.head,
        "changed": !r.is_empty(),
        "verdict": verdict(r),
        "summary": {
            "clusters": { "total": r.clusters_total, "changed": r.clusters_changed.len() },
            "resources": { "added": r.totals.added, "changed": r.totals.changed, "removed": r.totals.removed },
            "components": components,
        },
        "changes": changes,
        "wholeClusters": r.whole.iter().map(|(name, w)| json!({
            "name": name,
            "op": w.op.as_str(),
            "files": w.files,
            "kinds": w.kinds,
        })).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cut_diff_counts_the_lines_left_out() {
        let diff = "+aaaa\n+bbbb\n+cccc\n";
        assert_eq!(capped(diff, 100), diff);
        assert_eq!(capped(diff, 13), "+aaaa\n+bbbb\n… 1 more line not shown\n");
        assert_eq!(capped(diff, 7), "+aaaa\n… 2 more lines not shown\n");
    }
}
