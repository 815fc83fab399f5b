//! The `text` (aligned tables for a terminal) and `markdown` (a review or PR
//! comment) forms of a [`Report`].

use std::fmt::Write as _;

use super::Report;
use crate::diag::plural;

/// Columns padded to their widest cell, two spaces apart, no trailing blanks.
fn table(indent: &str, headers: &[&str], rows: &[Vec<String>]) -> String {
    let width = |s: &str| s.chars().count();
    let mut w: Vec<usize> = headers.iter().map(|h| width(h)).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if i < w.len() {
                w[i] = w[i].max(width(c));
            }
        }
    }
    let mut out = String::new();
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut l = String::from(indent);
        for (i, c) in cells.enumerate() {
            l.push_str(c);
            let pad = w.get(i).copied().unwrap_or(0).saturating_sub(width(c)) + 2;
            l.extend(std::iter::repeat_n(' ', pad));
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(&mut headers.iter().copied());
    for r in rows {
        line(&mut r.iter().map(String::as_str));
    }
    out
}

fn list(v: &[String]) -> String {
    if v.is_empty() {
        "–".into()
    } else {
        v.join(", ")
    }
}

fn summary_line(r: &Report) -> String {
    let s = &r.summary;
    format!(
        "{}, {}, {}, {}, {}; {}; {}; {}; exemptions: {} expired, {} expiring within {} days; {}, {}",
        plural(s.clusters, "cluster", "clusters"),
        plural(s.groups, "group", "groups"),
        plural(s.components, "component", "components"),
        plural(s.policies, "policy", "policies"),
        plural(s.placements, "placement", "placements"),
        plural(s.kubernetes_versions, "Kubernetes version", "Kubernetes versions"),
        plural(s.skewed_components, "component skewed", "components skewed"),
        plural(s.rollouts_in_flight, "rollout in flight", "rollouts in flight"),
        s.exemptions_expired,
        s.exemptions_expiring,
        super::EXPIRING_DAYS,
        plural(s.errors, "error", "errors"),
        plural(s.warnings, "warning", "warnings"),
    )
}

fn source(r: &Report) -> String {
    match &r.source_revision {
        Some(rev) => format!("commit {}", &rev[..rev.len().min(12)]),
        None => "work tree".into(),
    }
}

fn waves_text(c: &super::ClusterRow) -> String {
    let v: Vec<String> = c
        .waves
        .iter()
        .map(|w| {
            format!(
                "{}: {}{}",
                w.placement,
                w.wave,
                if w.promoted { " (promoted)" } else { "" }
            )
        })
        .collect();
    list(&v)
}

fn labels_text(c: &super::ClusterRow) -> String {
    c.labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

fn version_text(v: &Option<String>) -> String {
    v.clone().unwrap_or_else(|| "(none)".into())
}

/// A rollout's row (unescaped): placement, component, version, promoted
/// through, waves, state.
fn rollout_row(c: &super::ComponentRow, ro: &super::RolloutRow) -> Vec<String> {
    vec![
        ro.placement.clone(),
        c.name.clone(),
        version_text(&ro.version),
        ro.promoted_through.clone().unwrap_or_else(|| "–".into()),
        ro.waves_summary(),
        if ro.in_flight { "in flight" } else { "done" }.into(),
    ]
}

/// Aligned tables for a terminal.
pub fn text(r: &Report) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "Fleet report: {} on {} ({})",
        r.fleet,
        r.today,
        source(r)
    );
    let _ = writeln!(o, "{}", summary_line(r));

    let _ = writeln!(o, "\nInventory");
    let rows: Vec<Vec<String>> = r
        .clusters
        .iter()
        .map(|c| {
            vec![
                c.name.clone(),
                c.owner.clone(),
                c.kubernetes_version.clone(),
                list(&c.groups),
                waves_text(c),
                labels_text(c),
            ]
        })
        .collect();
    o.push_str(&table(
        "  ",
        &[
            "CLUSTER",
            "OWNER",
            "KUBERNETES",
            "GROUPS",
            "WAVES",
            "LABELS",
        ],
        &rows,
    ));

    let _ = writeln!(o, "\nKubernetes versions");
    let rows: Vec<Vec<String>> = r
        .kubernetes_versions
        .iter()
        .map(|k| {
            vec![
                k.version.clone(),
                k.clusters.len().to_string(),
                "#".repeat(k.clusters.len()),
                list(&k.clusters),
            ]
        })
        .collect();
    o.push_str(&table("  ", &["VERSION", "CLUSTERS", "", "NAMES"], &rows));

    let _ = writeln!(o, "\nComponent versions");
    let mut rows = Vec::new();
    for c in &r.components {
        for (i, v) in c.versions.iter().enumerate() {
            rows.push(vec![
                if i == 0 {
                    c.name.clone()
                } else {
                    String::new()
                },
                version_text(&v.version),
                v.clusters.len().to_string(),
                if i == 0 && c.skew {
                    "SKEW".into()
                } else {
                    String::new()
                },
                list(&v.clusters),
            ]);
        }
    }
    o.push_str(&table(
        "  ",
        &["COMPONENT", "VERSION", "CLUSTERS", "", "NAMES"],
        &rows,
    ));
    let rollouts: Vec<Vec<String>> = r.rollouts().map(|(c, ro)| rollout_row(c, ro)).collect();
    if !rollouts.is_empty() {
        let _ = writeln!(o, "\n  Rollouts");
        o.push_str(&table(
            "  ",
            &[
                "PLACEMENT",
                "COMPONENT",
                "VERSION",
                "PROMOTED THROUGH",
                "WAVES (✓ promoted, clusters)",
                "STATE",
            ],
            &rollouts,
        ));
    }

    let _ = writeln!(o, "\nPolicy posture");
    let rows: Vec<Vec<String>> = r
        .policies
        .iter()
        .map(|p| {
            vec![
                p.name.clone(),
                p.engine.into(),
                p.mode.into(),
                p.enforce.len().to_string(),
                p.audit.len().to_string(),
                p.exempt_audit.len().to_string(),
                p.exempt_skip.len().to_string(),
            ]
        })
        .collect();
    o.push_str(&table(
        "  ",
        &[
            "POLICY",
            "ENGINE",
            "BASELINE",
            "ENFORCE",
            "AUDIT",
            "EXEMPT-AUDIT",
            "EXEMPT-SKIP",
        ],
        &rows,
    ));
    for p in &r.policies {
        for (what, v) in p.not_enforced() {
            if !v.is_empty() {
                let _ = writeln!(o, "  {} {what}: {}", p.name, v.join(", "));
            }
        }
    }

    let _ = writeln!(o, "\nExemptions");
    if r.exemptions.is_empty() {
        let _ = writeln!(o, "  none");
    } else {
        let rows: Vec<Vec<String>> = r
            .exemptions
            .iter()
            .map(|e| {
                vec![
                    e.status.to_uppercase(),
                    e.expires.clone(),
                    e.days_left.to_string(),
                    e.policy.clone(),
                    list(&e.clusters),
                    list(&e.owners),
                    e.approved_by.clone(),
                    e.effect.into(),
                    e.reason.clone(),
                ]
            })
            .collect();
        o.push_str(&table(
            "  ",
            &[
                "STATUS",
                "EXPIRES",
                "DAYS",
                "POLICY",
                "CLUSTERS",
                "OWNERS",
                "APPROVED BY",
                "EFFECT",
                "REASON",
            ],
            &rows,
        ));
    }

    admission_text(r, &mut o);

    let _ = writeln!(o, "\nUpgrade readiness (next two Kubernetes minors)");
    let u = &r.upgrade_readiness;
    if u.versions.is_empty() {
        let _ = writeln!(o, "  no cluster runs a version fleetc has API data for");
    } else {
        let rows = version_rows(r, list);
        o.push_str(&table(
            "  ",
            &["KUBERNETES", "TO", "READY TODAY", "BLOCKED"],
            &rows,
        ));
        let rows = removed_rows(r);
        if rows.is_empty() {
            let _ = writeln!(
                o,
                "  nothing the clusters receive stops being served in their next two minors"
            );
        } else {
            let _ = writeln!(o);
            o.push_str(&table(
                "  ",
                &[
                    "CLUSTER",
                    "RUNS",
                    "REMOVED IN",
                    "OBJECT",
                    "SOURCE",
                    "USE INSTEAD",
                ],
                &rows,
            ));
        }
    }

    let _ = writeln!(o, "\nFindings (fleetc validate)");
    if r.findings.is_empty() {
        let _ = writeln!(o, "  none");
    }
    for f in &r.findings {
        let _ = write!(o, "  {}: {}", f.severity, f.message);
        if let Some(l) = &f.location {
            let _ = write!(o, " ({l})");
        }
        if !f.clusters.is_empty() {
            let _ = write!(o, " [on {}]", f.clusters.join(", "));
        }
        o.push('\n');
    }
    o
}

/// One row per Kubernetes minor in service: the clusters that can go to
/// the next minor today, and those that cannot (`list` formats a list).
fn version_rows(r: &Report, list: fn(&[String]) -> String) -> Vec<Vec<String>> {
    r.upgrade_readiness
        .versions
        .iter()
        .map(|v| {
            vec![
                v.kubernetes.clone(),
                v.to.clone(),
                list(&v.ready),
                list(&v.blocked),
            ]
        })
        .collect()
}

/// One row per object a cluster's next two minors stop serving.
fn removed_rows(r: &Report) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    for c in &r.upgrade_readiness.clusters {
        for step in &c.steps {
            for x in &step.removed {
                let ns = x
                    .namespace
                    .as_deref()
                    .map(|n| format!("{n}/"))
                    .unwrap_or_default();
                rows.push(vec![
                    c.cluster.clone(),
                    c.kubernetes.clone(),
                    step.to.clone(),
                    format!("{} {} {ns}{}", x.api_version, x.kind, x.name),
                    x.source.clone(),
                    x.replacement.clone().unwrap_or_else(|| "–".into()),
                ]);
            }
        }
    }
    rows
}

/// A table cell: pipes escaped, no line breaks, no HTML.
fn cell(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('|', "\\|")
        .replace(['\n', '\r'], " ")
}

fn md_table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "| {} |", headers.join(" | "));
    let _ = writeln!(o, "|{}", headers.iter().map(|_| "---|").collect::<String>());
    for r in rows {
        let _ = writeln!(o, "| {} |", r.join(" | "));
    }
    o
}

fn md_list(v: &[String]) -> String {
    if v.is_empty() {
        "–".into()
    } else {
        v.iter().map(|x| cell(x)).collect::<Vec<_>>().join(", ")
    }
}

/// A review document (GitHub/GitLab markdown).
pub fn markdown(r: &Report) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "<!-- fleetc:report -->");
    let _ = writeln!(o, "# Fleet report: `{}`", r.fleet.replace('`', "'"));
    let _ = writeln!(o, "\n{} · {}\n", r.today, cell(&source(r)));
    let _ = writeln!(o, "{}", cell(&summary_line(r)));

    let _ = writeln!(o, "\n## Inventory\n");
    let rows: Vec<Vec<String>> = r
        .clusters
        .iter()
        .map(|c| {
            vec![
                format!("`{}`", c.name),
                cell(&c.owner),
                cell(&c.kubernetes_version),
                md_list(&c.groups),
                cell(&waves_text(c)),
                cell(&labels_text(c)),
            ]
        })
        .collect();
    o.push_str(&md_table(
        &[
            "Cluster",
            "Owner",
            "Kubernetes",
            "Groups",
            "Waves",
            "Labels",
        ],
        &rows,
    ));

    let _ = writeln!(o, "\n## Kubernetes versions\n");
    let rows: Vec<Vec<String>> = r
        .kubernetes_versions
        .iter()
        .map(|k| {
            vec![
                cell(&k.version),
                k.clusters.len().to_string(),
                md_list(&k.clusters),
            ]
        })
        .collect();
    o.push_str(&md_table(&["Version", "Clusters", "Names"], &rows));

    let _ = writeln!(o, "\n## Component versions\n");
    if !r.components.is_empty() {
        let mut headers: Vec<String> = vec!["Cluster".into()];
        headers.extend(r.components.iter().map(|c| {
            if c.skew {
                format!("{} ⚠ skew", cell(&c.name))
            } else {
                cell(&c.name)
            }
        }));
        let h: Vec<&str> = headers.iter().map(String::as_str).collect();
        let rows: Vec<Vec<String>> = r
            .clusters
            .iter()
            .map(|cl| {
                let mut row = vec![format!("`{}`", cl.name)];
                for c in &r.components {
                    row.push(match c.by_cluster.get(&cl.name) {
                        None => "·".into(),
                        Some(v) if cl.promoted(&c.name) => {
                            format!("**{}** ↑", cell(&version_text(v)))
                        }
                        Some(v) => cell(&version_text(v)),
                    });
                }
                row
            })
            .collect();
        o.push_str(&md_table(&h, &rows));
        let _ = writeln!(
            o,
            "\n· not placed; **bold ↑**: promoted by a rollout; ⚠ skew: more than one version in service."
        );
    }
    let rollouts: Vec<Vec<String>> = r
        .rollouts()
        .map(|(c, ro)| {
            let mut row: Vec<String> = rollout_row(c, ro).iter().map(|x| cell(x)).collect();
            if ro.in_flight {
                row[5] = "**in flight**".into();
            }
            row
        })
        .collect();
    if !rollouts.is_empty() {
        let _ = writeln!(o, "\n### Rollouts\n");
        o.push_str(&md_table(
            &[
                "Placement",
                "Component",
                "Version",
                "Promoted through",
                "Waves (✓ promoted, clusters)",
                "State",
            ],
            &rollouts,
        ));
    }

    let _ = writeln!(o, "\n## Policy posture\n");
    let rows: Vec<Vec<String>> = r
        .policies
        .iter()
        .map(|p| {
            let n = |v: &[String]| {
                if v.is_empty() {
                    "0".to_string()
                } else {
                    format!("{}: {}", v.len(), md_list(v))
                }
            };
            vec![
                format!("`{}`", p.name),
                p.engine.into(),
                p.mode.into(),
                p.enforce.len().to_string(),
                n(&p.audit),
                n(&p.exempt_audit),
                n(&p.exempt_skip),
            ]
        })
        .collect();
    o.push_str(&md_table(
        &[
            "Policy",
            "Engine",
            "Baseline",
            "Enforce",
            "Audit",
            "Exempt (audit)",
            "Exempt (skip)",
        ],
        &rows,
    ));

    let _ = writeln!(o, "\n## Exemptions\n");
    if r.exemptions.is_empty() {
        let _ = writeln!(o, "None.");
    } else {
        let rows: Vec<Vec<String>> = r
            .exemptions
            .iter()
            .map(|e| {
                vec![
                    match e.status {
                        "expired" => "🔴 **expired**".to_string(),
                        "expiring" => "🟠 **expiring**".to_string(),
                        s => s.to_string(),
                    },
                    e.expires.clone(),
                    e.days_left.to_string(),
                    format!("`{}`", e.policy),
                    md_list(&e.clusters),
                    md_list(&e.owners),
                    cell(&e.approved_by),
                    e.effect.into(),
                    cell(&e.reason),
                ]
            })
            .collect();
        o.push_str(&md_table(
            &[
                "Status",
                "Expires",
                "Days left",
                "Policy",
                "Clusters",
                "Owners",
                "Approved by",
                "Effect",
                "Reason",
            ],
            &rows,
        ));
    }

    admission_markdown(r, &mut o);

    let _ = writeln!(o, "\n## Upgrade readiness\n");
    let u = &r.upgrade_readiness;
    if u.versions.is_empty() {
        let _ = writeln!(o, "No cluster runs a version fleetc has API data for.");
    } else {
        let rows = version_rows(r, md_list);
        o.push_str(&md_table(
            &["Kubernetes", "To", "Ready today", "Blocked"],
            &rows,
        ));
        let rows: Vec<Vec<String>> = removed_rows(r)
            .into_iter()
            .map(|r| r.iter().map(|c| cell(c)).collect())
            .collect();
        if rows.is_empty() {
            let _ = writeln!(
                o,
                "\nNothing the clusters receive stops being served in their next two minors."
            );
        } else {
            let _ = writeln!(o);
            o.push_str(&md_table(
                &[
                    "Cluster",
                    "Runs",
                    "Removed in",
                    "Object",
                    "Source",
                    "Use instead",
                ],
                &rows,
            ));
        }
    }

    let _ = writeln!(o, "\n## Findings (`fleetc validate`)\n");
    if r.findings.is_empty() {
        let _ = writeln!(o, "None.");
    }
    for f in &r.findings {
        let _ = write!(o, "- **{}**", f.severity);
        if let Some(l) = &f.location {
            let _ = write!(o, " `{}`", l.replace('`', "'"));
        }
        let _ = write!(o, ": {}", cell(&f.message));
        if !f.clusters.is_empty() {
            let _ = write!(o, " (on {})", md_list(&f.clusters));
        }
        o.push('\n');
    }
    o
}

const ADMISSION_HEADERS: [&str; 7] = [
    "POLICY", "ENGINE", "CHECKED", "DENIED", "FLAGGED", "ERRORS", "SKIPPED",
];

fn admission_rows(r: &Report, code: fn(&str) -> String) -> Vec<Vec<String>> {
    use super::admission::cell;
    r.admission
        .iter()
        .map(|a| {
            vec![
                code(&a.policy),
                a.source.clone(),
                a.results.to_string(),
                cell(a.denied, &a.denied_clusters),
                cell(a.flagged, &a.flagged_clusters),
                cell(a.errors, &a.error_clusters),
                a.skipped.to_string(),
            ]
        })
        .collect()
}

fn admission_text(r: &Report, o: &mut String) {
    let _ = writeln!(
        o,
        "\nAdmission (each cluster's own policies; denied: the cluster rejects, flagged: audited)"
    );
    if r.admission.is_empty() {
        let _ = writeln!(o, "  no admission policy is rendered on any cluster");
        return;
    }
    o.push_str(&table(
        "  ",
        &ADMISSION_HEADERS,
        &admission_rows(r, |s| s.to_string()),
    ));
}

fn admission_markdown(r: &Report, o: &mut String) {
    let _ = writeln!(o, "\n## Admission\n");
    if r.admission.is_empty() {
        let _ = writeln!(o, "No admission policy is rendered on any cluster.");
        return;
    }
    let _ = writeln!(o, "Each cluster's own policies on what it receives: *denied* the cluster rejects (enforce), *flagged* it admits and reports (audit).\n");
    let headers = [
        "Policy", "Engine", "Checked", "Denied", "Flagged", "Errors", "Skipped",
    ];
    o.push_str(&md_table(
        &headers,
        &admission_rows(r, |s| format!("`{s}`")),
    ));
}
