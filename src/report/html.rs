//! The `html` form of a [`Report`]: one self-contained page (inline CSS,
//! inline SVG, a small inline script; nothing fetched) with sortable tables,
//! the component version matrix as a colour-coded grid and a chart of
//! clusters per Kubernetes version.
//!
//! The script sorts a table when its header is clicked (or Enter/Space),
//! honours `#sort=<table-id>:<column-key>[:desc]` in the address (so a
//! sorted view can be linked), records script errors in `data-errors` on
//! `<body>` and sets `data-ready="1"` there once it ran.

use std::fmt::Write as _;

use super::Report;

/// Text and attribute values, escaped.
fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

fn list(v: &[String]) -> String {
    if v.is_empty() {
        "<span class=\"none\">–</span>".into()
    } else {
        esc(&v.join(", "))
    }
}

const STYLE: &str = r#"
:root { --fg: #1f2328; --muted: #59636e; --line: #d1d9e0; --bg: #ffffff; --head: #f6f8fa;
  --latest: #b7ebc6; --behind1: #ffe08a; --behind2: #ffb3a7; --uniform: #dde7f3; --accent: #0969da; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg);
  background: var(--bg); margin: 0 auto; padding: 24px; max-width: 1400px; }
h1 { font-size: 24px; margin: 0 0 4px; } h2 { font-size: 18px; margin: 32px 0 8px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
h3 { font-size: 15px; margin: 20px 0 8px; }
.sub { color: var(--muted); margin: 0 0 16px; }
code { font: 12px ui-monospace, SFMono-Regular, Menlo, monospace; }
h1 code { font-size: 22px; }
nav a { margin-right: 14px; color: var(--accent); text-decoration: none; }
ul.cards { list-style: none; padding: 0; margin: 16px 0; display: flex; flex-wrap: wrap; gap: 10px; }
ul.cards li { border: 1px solid var(--line); border-radius: 6px; padding: 8px 12px; min-width: 120px; background: var(--head); }
ul.cards b { display: block; font-size: 20px; }
ul.cards li.bad { border-color: #cf222e; } ul.cards li.warn { border-color: #bf8700; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; margin: 8px 0; }
th, td { border: 1px solid var(--line); padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: var(--head); font-weight: 600; white-space: nowrap; }
table.sortable th { cursor: pointer; user-select: none; }
table.sortable th::after { content: " ↕"; color: var(--muted); font-weight: normal; }
table.sortable th[aria-sort="ascending"]::after { content: " ▲"; color: var(--fg); }
table.sortable th[aria-sort="descending"]::after { content: " ▼"; color: var(--fg); }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.none { color: var(--muted); }
.badge { display: inline-block; padding: 0 6px; border-radius: 10px; font-size: 12px; font-weight: 600; }
.badge.expired { background: #ffebe9; color: #cf222e; } .badge.expiring { background: #fff8c5; color: #9a6700; }
.badge.active { background: #dafbe1; color: #1a7f37; } .badge.skew { background: #fff8c5; color: #9a6700; }
.badge.flight { background: #ddf4ff; color: #0969da; } .badge.error { background: #ffebe9; color: #cf222e; }
.badge.warning { background: #fff8c5; color: #9a6700; }
table.matrix td { text-align: center; white-space: nowrap; font: 12px ui-monospace, SFMono-Regular, Menlo, monospace; }
table.matrix th.cluster { writing-mode: vertical-rl; transform: rotate(180deg); font-weight: 500; padding: 6px 2px; }
td.latest { background: var(--latest); } td.behind1 { background: var(--behind1); } td.behind2 { background: var(--behind2); }
td.uniform { background: var(--uniform); } td.absent { color: var(--muted); }
td.promoted { outline: 2px solid var(--accent); outline-offset: -3px; }
.legend span { display: inline-block; padding: 0 8px; margin-right: 6px; border: 1px solid var(--line); }
svg text { font: 12px system-ui, sans-serif; fill: var(--fg); }
svg rect.bar { fill: #54aeff; } svg line { stroke: var(--line); }
ul.findings li { margin: 4px 0; }
footer { margin-top: 40px; color: var(--muted); font-size: 12px; }
"#;

const SCRIPT: &str = r#"
(function () {
  "use strict";
  var errors = [];
  window.addEventListener("error", function (e) {
    errors.push(String(e.message));
    document.body.setAttribute("data-errors", errors.join("; "));
  });
  function key(td) {
    var v = td.getAttribute("data-sort");
    return v !== null ? v : td.textContent.trim();
  }
  function sortTable(table, col, desc) {
    var head = table.tHead.rows[0].cells;
    var numeric = head[col].getAttribute("data-type") === "number";
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (r1, r2) {
      var a = key(r1.cells[col]), b = key(r2.cells[col]);
      var c = numeric ? parseFloat(a) - parseFloat(b) : a.localeCompare(b, "en", { numeric: true });
      if (desc) { c = -c; }
      if (c === 0) { c = Number(r1.getAttribute("data-index")) - Number(r2.getAttribute("data-index")); }
      return c;
    });
    rows.forEach(function (r) { body.appendChild(r); });
    for (var i = 0; i < head.length; i++) {
      head[i].setAttribute("aria-sort", i === col ? (desc ? "descending" : "ascending") : "none");
    }
  }
  var tables = document.querySelectorAll("table.sortable");
  Array.prototype.forEach.call(tables, function (t) {
    Array.prototype.forEach.call(t.tBodies[0].rows, function (r, i) { r.setAttribute("data-index", String(i)); });
    Array.prototype.forEach.call(t.tHead.rows[0].cells, function (h, i) {
      h.tabIndex = 0;
      h.addEventListener("click", function () { sortTable(t, i, h.getAttribute("aria-sort") === "ascending"); });
      h.addEventListener("keydown", function (e) {
        if (e.key === "Enter" || e.key === " ") { e.preventDefault(); h.click(); }
      });
    });
  });
  var m = /^#sort=([A-Za-z0-9_-]+):([A-Za-z0-9_-]+)(:desc)?$/.exec(window.location.hash);
  if (m) {
    var t = document.getElementById(m[1]);
    if (t && t.classList.contains("sortable")) {
      var cells = t.tHead.rows[0].cells;
      for (var i = 0; i < cells.length; i++) {
        if (cells[i].getAttribute("data-key") === m[2]) { sortTable(t, i, Boolean(m[3])); }
      }
    }
  }
  document.body.setAttribute("data-ready", "1");
})();
"#;

/// `<th>`s of a sortable table: (key, label, numeric).
/// Upgrade readiness: who can move to the next minor today, and what the
/// next two minors stop serving, per cluster.
fn admission(r: &Report, o: &mut String) {
    use super::admission::cell;
    o.push_str("<section id=\"admission\"><h2>Admission <small>(each cluster's own policies: denied, the cluster rejects; flagged, it admits and reports)</small></h2>");
    if r.admission.is_empty() {
        o.push_str(
            "<p class=\"none\">No admission policy is rendered on any cluster.</p></section>\n",
        );
        return;
    }
    o.push_str("<div class=\"scroll\"><table class=\"sortable\" id=\"admission-table\">");
    o.push_str(&head(&[
        ("policy", "Policy", false),
        ("engine", "Engine", false),
        ("checked", "Checked", true),
        ("denied", "Denied", false),
        ("flagged", "Flagged", false),
        ("errors", "Errors", false),
        ("skipped", "Skipped", true),
    ]));
    o.push_str("<tbody>");
    for a in &r.admission {
        let _ = write!(
            o,
            "<tr><td><code>{}</code></td><td>{}</td>{}<td>{}</td><td>{}</td><td>{}</td>{}</tr>",
            esc(&a.policy),
            esc(&a.source),
            num(a.results as i64),
            esc(&cell(a.denied, &a.denied_clusters)),
            esc(&cell(a.flagged, &a.flagged_clusters)),
            esc(&cell(a.errors, &a.error_clusters)),
            num(a.skipped as i64),
        );
    }
    o.push_str("</tbody></table></div></section>\n");
}

fn upgrades(r: &Report, o: &mut String) {
    let u = &r.upgrade_readiness;
    o.push_str("<section id=\"upgrades\"><h2>Upgrade readiness <small>(next two Kubernetes minors)</small></h2>");
    if u.versions.is_empty() {
        o.push_str(
            "<p class=\"none\">No cluster runs a version fleetc has API data for.</p></section>\n",
        );
        return;
    }
    o.push_str("<div class=\"scroll\"><table class=\"sortable\" id=\"upgrade-versions-table\">");
    o.push_str(&head(&[
        ("kubernetes", "Kubernetes", false),
        ("to", "To", false),
        ("ready", "Ready today", false),
        ("blocked", "Blocked", false),
    ]));
    o.push_str("<tbody>");
    for v in &u.versions {
        let _ = write!(
            o,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&v.kubernetes),
            esc(&v.to),
            list(&v.ready),
            if v.blocked.is_empty() {
                list(&v.blocked)
            } else {
                format!(
                    "<span class=\"badge expired\">blocked</span> {}",
                    list(&v.blocked)
                )
            },
        );
    }
    o.push_str("</tbody></table></div>");
    let removed: Vec<_> = u
        .clusters
        .iter()
        .flat_map(|c| {
            c.steps
                .iter()
                .flat_map(move |s| s.removed.iter().map(move |x| (c, s, x)))
        })
        .collect();
    if removed.is_empty() {
        o.push_str("<p class=\"none\">Nothing the clusters receive stops being served in their next two minors.</p>");
    } else {
        o.push_str("<div class=\"scroll\"><table class=\"sortable\" id=\"upgrade-objects-table\">");
        o.push_str(&head(&[
            ("cluster", "Cluster", false),
            ("runs", "Runs", false),
            ("removed", "Removed in", false),
            ("object", "Object", false),
            ("source", "Source", false),
            ("instead", "Use instead", false),
        ]));
        o.push_str("<tbody>");
        for (c, s, x) in removed {
            let ns = x
                .namespace
                .as_deref()
                .map(|n| format!("{n}/"))
                .unwrap_or_default();
            let _ = write!(
                o,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td><code>{} {} {}{}</code></td><td><code>{}</code></td><td>{}</td></tr>",
                esc(&c.cluster),
                esc(&c.kubernetes),
                esc(&s.to),
                esc(&x.api_version),
                esc(&x.kind),
                esc(&ns),
                esc(&x.name),
                esc(&x.source),
                x.replacement.as_deref().map(esc).unwrap_or_else(|| "–".into()),
            );
        }
        o.push_str("</tbody></table></div>");
    }
    o.push_str("</section>\n");
}

fn head(cols: &[(&str, &str, bool)]) -> String {
    let mut o = String::from("<thead><tr>");
    for (k, label, num) in cols {
        let _ = write!(
            o,
            "<th data-key=\"{k}\"{} aria-sort=\"none\">{}</th>",
            if *num { " data-type=\"number\"" } else { "" },
            esc(label)
        );
    }
    o.push_str("</tr></thead>");
    o
}

fn num(n: i64) -> String {
    format!("<td class=\"num\" data-sort=\"{n}\">{n}</td>")
}

/// Bars of clusters per Kubernetes version.
fn chart(r: &Report) -> String {
    let n = r.kubernetes_versions.len();
    let max = r
        .kubernetes_versions
        .iter()
        .map(|k| k.clusters.len())
        .max()
        .unwrap_or(1)
        .max(1);
    let (bar, gap, h, top, bottom) = (44usize, 20usize, 140usize, 20usize, 24usize);
    let width = (n * (bar + gap) + gap).max(200);
    let mut o = format!(
        "<svg id=\"k8s-chart\" role=\"img\" aria-label=\"Clusters per Kubernetes version\" width=\"{width}\" height=\"{}\" viewBox=\"0 0 {width} {}\">",
        h + top + bottom,
        h + top + bottom
    );
    let _ = write!(
        o,
        "<line x1=\"0\" y1=\"{y}\" x2=\"{width}\" y2=\"{y}\"/>",
        y = top + h
    );
    for (i, k) in r.kubernetes_versions.iter().enumerate() {
        let c = k.clusters.len();
        let bh = (c * h / max).max(2);
        let x = gap + i * (bar + gap);
        let y = top + h - bh;
        let _ = write!(
            o,
            "<g><title>{}: {} ({})</title><rect class=\"bar\" data-version=\"{}\" data-count=\"{c}\" x=\"{x}\" y=\"{y}\" width=\"{bar}\" height=\"{bh}\"/>\
             <text x=\"{cx}\" y=\"{ty}\" text-anchor=\"middle\">{c}</text>\
             <text x=\"{cx}\" y=\"{ly}\" text-anchor=\"middle\">{}</text></g>",
            esc(&k.version),
            crate::diag::plural(c, "cluster", "clusters"),
            esc(&k.clusters.join(", ")),
            esc(&k.version),
            esc(&k.version),
            cx = x + bar / 2,
            ty = y.saturating_sub(4),
            ly = top + h + 16,
        );
    }
    o.push_str("</svg>");
    o
}

/// The page.
pub fn html(r: &Report) -> String {
    let mut o = String::new();
    let s = &r.summary;
    let source = match &r.source_revision {
        Some(rev) => format!("commit {}", esc(rev)),
        None => "work tree".into(),
    };
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"generator\" content=\"fleetc {}\">\n\
         <title>Fleet report: {}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        env!("CARGO_PKG_VERSION"),
        esc(&r.fleet)
    );
    let _ = write!(
        o,
        "<header><h1>Fleet report: <code>{}</code></h1><p class=\"sub\">{} · {source}</p>",
        esc(&r.fleet),
        esc(&r.today)
    );
    let card = |n: usize, what: &str, class: &str| {
        format!("<li class=\"{class}\"><b>{n}</b>{}</li>", esc(what))
    };
    o.push_str("<ul class=\"cards\" id=\"summary\">");
    o.push_str(&card(s.clusters, "clusters", ""));
    o.push_str(&card(s.groups, "groups", ""));
    o.push_str(&card(s.components, "components", ""));
    o.push_str(&card(s.policies, "policies", ""));
    o.push_str(&card(s.kubernetes_versions, "Kubernetes versions", ""));
    o.push_str(&card(
        s.skewed_components,
        "components skewed",
        if s.skewed_components > 0 { "warn" } else { "" },
    ));
    o.push_str(&card(s.rollouts_in_flight, "rollouts in flight", ""));
    o.push_str(&card(
        s.exemptions_expired,
        "exemptions expired",
        if s.exemptions_expired > 0 { "bad" } else { "" },
    ));
    o.push_str(&card(
        s.exemptions_expiring,
        "expiring within 30 days",
        if s.exemptions_expiring > 0 {
            "warn"
        } else {
            ""
        },
    ));
    o.push_str(&card(
        s.errors,
        "errors",
        if s.errors > 0 { "bad" } else { "" },
    ));
    o.push_str(&card(
        s.warnings,
        "warnings",
        if s.warnings > 0 { "warn" } else { "" },
    ));
    o.push_str("</ul>\n<nav><a href=\"#inventory\">Inventory</a><a href=\"#kubernetes\">Kubernetes versions</a>\
        <a href=\"#versions\">Component versions</a><a href=\"#policies\">Policy posture</a>\
        <a href=\"#exemptions\">Exemptions</a><a href=\"#admission\">Admission</a><a href=\"#upgrades\">Upgrade readiness</a><a href=\"#findings\">Findings</a></nav></header>\n");

    // Inventory.
    o.push_str("<section id=\"inventory\"><h2>Inventory</h2><div class=\"scroll\"><table class=\"sortable\" id=\"inventory-table\">");
    o.push_str(&head(&[
        ("cluster", "Cluster", false),
        ("owner", "Owner", false),
        ("kubernetes", "Kubernetes", false),
        ("groups", "Groups", false),
        ("waves", "Waves", false),
        ("labels", "Labels", false),
    ]));
    o.push_str("<tbody>");
    for c in &r.clusters {
        let waves: Vec<String> = c
            .waves
            .iter()
            .map(|w| {
                format!(
                    "{}: {}{}",
                    esc(&w.placement),
                    esc(&w.wave),
                    if w.promoted { " ✓" } else { "" }
                )
            })
            .collect();
        let labels: Vec<String> = c
            .labels
            .iter()
            .map(|(k, v)| format!("<code>{}={}</code>", esc(k), esc(v)))
            .collect();
        let _ = write!(
            o,
            "<tr data-cluster=\"{n}\"><td><code>{n}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&c.owner),
            esc(&c.kubernetes_version),
            list(&c.groups),
            if waves.is_empty() { "<span class=\"none\">–</span>".into() } else { waves.join("<br>") },
            labels.join(" "),
            n = esc(&c.name),
        );
    }
    o.push_str("</tbody></table></div></section>\n");

    // Kubernetes versions.
    o.push_str("<section id=\"kubernetes\"><h2>Kubernetes versions</h2>");
    o.push_str(&chart(r));
    o.push_str("<table class=\"sortable\" id=\"kubernetes-table\">");
    o.push_str(&head(&[
        ("version", "Version", false),
        ("minor", "Minor", false),
        ("count", "Clusters", true),
        ("names", "Names", false),
    ]));
    o.push_str("<tbody>");
    for k in &r.kubernetes_versions {
        let _ = write!(
            o,
            "<tr data-version=\"{v}\"><td>{v}</td><td>{}</td>{}<td>{}</td></tr>",
            esc(&k.minor),
            num(k.clusters.len() as i64),
            list(&k.clusters),
            v = esc(&k.version),
        );
    }
    o.push_str("</tbody></table></section>\n");

    // Component version matrix.
    o.push_str("<section id=\"versions\"><h2>Component versions</h2>");
    o.push_str("<p class=\"legend\"><span class=\"latest-l\" style=\"background:var(--latest)\">newest in service</span>\
        <span style=\"background:var(--behind1)\">one version behind</span>\
        <span style=\"background:var(--behind2)\">two or more behind</span>\
        <span style=\"background:var(--uniform)\">one version fleet-wide</span>\
        <span style=\"outline:2px solid var(--accent)\">promoted by a rollout</span> · not placed</p>");
    o.push_str("<div class=\"scroll\"><table class=\"matrix\" id=\"version-matrix\"><thead><tr><th>Component</th>");
    for c in &r.clusters {
        let _ = write!(o, "<th class=\"cluster\">{}</th>", esc(&c.name));
    }
    o.push_str("</tr></thead><tbody>");
    for comp in &r.components {
        let _ = write!(
            o,
            "<tr data-component=\"{n}\"{}><th><code>{n}</code>{}</th>",
            if comp.skew { " class=\"skew\"" } else { "" },
            if comp.skew {
                " <span class=\"badge skew\">skew</span>"
            } else {
                ""
            },
            n = esc(&comp.name),
        );
        let newest = comp.versions.len().saturating_sub(1);
        for cl in &r.clusters {
            let promoted = cl.promoted(&comp.name);
            match comp.by_cluster.get(&cl.name) {
                None => o.push_str("<td class=\"absent\">·</td>"),
                Some(v) => {
                    let rank = comp
                        .versions
                        .iter()
                        .position(|x| &x.version == v)
                        .unwrap_or(newest);
                    let class = if !comp.skew {
                        "uniform"
                    } else {
                        match newest - rank {
                            0 => "latest",
                            1 => "behind1",
                            _ => "behind2",
                        }
                    };
                    let text = v.clone().unwrap_or_else(|| "–".into());
                    let _ = write!(
                        o,
                        "<td class=\"{class}{}\" data-cluster=\"{}\" title=\"{} on {}\">{}</td>",
                        if promoted { " promoted" } else { "" },
                        esc(&cl.name),
                        esc(&comp.name),
                        esc(&cl.name),
                        esc(&text)
                    );
                }
            }
        }
        o.push_str("</tr>");
    }
    o.push_str("</tbody></table></div>");
    let rollouts: Vec<_> = r.rollouts().collect();
    if !rollouts.is_empty() {
        o.push_str("<h3>Rollouts</h3><table class=\"sortable\" id=\"rollouts-table\">");
        o.push_str(&head(&[
            ("placement", "Placement", false),
            ("component", "Component", false),
            ("version", "Version", false),
            ("through", "Promoted through", false),
            ("waves", "Waves", false),
            ("state", "State", false),
        ]));
        o.push_str("<tbody>");
        for (c, ro) in rollouts {
            let _ = write!(
                o,
                "<tr><td><code>{}</code></td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&ro.placement),
                esc(&c.name),
                esc(ro.version.as_deref().unwrap_or("–")),
                esc(ro.promoted_through.as_deref().unwrap_or("–")),
                esc(&ro.waves_summary()),
                if ro.in_flight {
                    "<span class=\"badge flight\">in flight</span>"
                } else {
                    "done"
                }
            );
        }
        o.push_str("</tbody></table>");
    }
    o.push_str("</section>\n");

    // Policy posture.
    o.push_str("<section id=\"policies\"><h2>Policy posture</h2><div class=\"scroll\"><table class=\"sortable\" id=\"policies-table\">");
    o.push_str(&head(&[
        ("policy", "Policy", false),
        ("engine", "Engine", false),
        ("mode", "Baseline", false),
        ("enforce", "Enforce", true),
        ("audit", "Audit", true),
        ("exempt-audit", "Exempt (audit)", true),
        ("exempt-skip", "Exempt (skip)", true),
        ("clusters", "Not enforced on", false),
    ]));
    o.push_str("<tbody>");
    for p in &r.policies {
        let mut not: Vec<String> = Vec::new();
        for (what, v) in p.not_enforced() {
            if !v.is_empty() {
                not.push(format!("<b>{what}</b>: {}", esc(&v.join(", "))));
            }
        }
        let _ = write!(
            o,
            "<tr data-policy=\"{n}\"><td><code>{n}</code></td><td>{}</td><td>{}</td>{}{}{}{}<td>{}</td></tr>",
            p.engine,
            p.mode,
            num(p.enforce.len() as i64),
            num(p.audit.len() as i64),
            num(p.exempt_audit.len() as i64),
            num(p.exempt_skip.len() as i64),
            if not.is_empty() { not.join("<br>") } else { "<span class=\"none\">–</span>".into() },
            n = esc(&p.name),
        );
    }
    o.push_str("</tbody></table></div></section>\n");

    // Exemptions.
    o.push_str("<section id=\"exemptions\"><h2>Exemptions</h2>");
    if r.exemptions.is_empty() {
        o.push_str("<p class=\"none\">None.</p>");
    } else {
        o.push_str("<div class=\"scroll\"><table class=\"sortable\" id=\"exemptions-table\">");
        o.push_str(&head(&[
            ("status", "Status", false),
            ("expires", "Expires", false),
            ("days", "Days left", true),
            ("policy", "Policy", false),
            ("clusters", "Clusters", false),
            ("owners", "Owners", false),
            ("approved", "Approved by", false),
            ("effect", "Effect", false),
            ("reason", "Reason", false),
        ]));
        o.push_str("<tbody>");
        for e in &r.exemptions {
            let rank = super::status_rank(e.status);
            let _ = write!(
                o,
                "<tr data-status=\"{s}\"><td data-sort=\"{rank}\"><span class=\"badge {s}\">{s}</span></td><td>{}</td>{}<td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}<br><span class=\"none\">{}</span></td></tr>",
                esc(&e.expires),
                num(e.days_left),
                esc(&e.policy),
                list(&e.clusters),
                list(&e.owners),
                esc(&e.approved_by),
                e.effect,
                esc(&e.reason),
                esc(&e.location),
                s = e.status,
            );
        }
        o.push_str("</tbody></table></div>");
    }
    o.push_str("</section>\n");

    admission(r, &mut o);
    upgrades(r, &mut o);

    // Findings.
    o.push_str("<section id=\"findings\"><h2>Findings <small>(fleetc validate)</small></h2>");
    if r.findings.is_empty() {
        o.push_str("<p class=\"none\">None.</p>");
    } else {
        o.push_str("<ul class=\"findings\">");
        for f in &r.findings {
            let _ = write!(
                o,
                "<li data-severity=\"{s}\"><span class=\"badge {s}\">{s}</span> {}{}{}</li>",
                esc(&f.message),
                f.location
                    .as_ref()
                    .map(|l| format!(" <code>{}</code>", esc(l)))
                    .unwrap_or_default(),
                if f.clusters.is_empty() {
                    String::new()
                } else {
                    format!(
                        " <span class=\"none\">on {}</span>",
                        esc(&f.clusters.join(", "))
                    )
                },
                s = f.severity,
            );
        }
        o.push_str("</ul>");
    }
    o.push_str("</section>\n");
    let _ = write!(
        o,
        "<footer>Generated by fleetc {} from the fleet repository; every table sorts by its headers.</footer>\n<script>{SCRIPT}</script>\n</body>\n</html>\n",
        env!("CARGO_PKG_VERSION")
    );
    o
}
