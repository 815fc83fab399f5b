//! `fleetc diff` between revisions of real git repositories.
use std::path::Path;

use crate::common::*;
use crate::git::{edit, example_repo, git};

/// Commit ids vary with the example's content; snapshots show a placeholder.
fn redact_ids(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('(') {
        out.push_str(&rest[..=i]);
        rest = &rest[i + 1..];
        if rest.len() > 13
            && rest.as_bytes()[12] == b')'
            && rest[..12].bytes().all(|b| b.is_ascii_hexdigit())
        {
            out.push_str("<commit>");
            rest = &rest[12..];
        }
    }
    out.push_str(rest);
    out
}

#[test]
fn a_change_on_every_production_cluster_is_one_block() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let w = example_repo(tmp.path());
    edit(
        &w.join("fleet/placements/kyverno.yaml"),
        "replicas: 3",
        "replicas: 4",
    );
    let o = fleetc(
        &["diff", "fleet", "--base", "main", "--format", "markdown"],
        &w,
    );
    assert_eq!(code(&o), 1, "{}", text(&o.stderr));
    let md = text(&o.stdout);
    assert!(md.starts_with("<!-- fleetc:diff -->\n"));
    assert_eq!(
        md.matches("<details>").count(),
        1,
        "one folded block:\n{md}"
    );
    assert!(md.contains("group production (7 clusters)"), "{md}");
    assert!(
        md.contains("Clusters: edge-factory-1, edge-factory-2, prod-ap-southeast-1"),
        "{md}"
    );
    assert!(md.contains("| kyverno | 7 | 0 | 7 | 0 |"), "{md}");
    insta::assert_snapshot!("diff_markdown_every_production_cluster", redact_ids(&md));

    // The same in text and JSON.
    let o = fleetc(&["--color", "never", "diff", "fleet", "--base", "main"], &w);
    assert_eq!(code(&o), 1);
    let t = text(&o.stdout);
    assert!(
        t.starts_with("fleetc diff: 7 of 13 clusters change: 0 added, 7 changed, 0 removed\n"),
        "{t}"
    );
    assert!(!t.contains('\x1b'), "no colour when asked for none");
    let o = fleetc(&["diff", "fleet", "--base", "main", "--format", "json"], &w);
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(j["summary"]["clusters"]["changed"], 7);
    assert_eq!(j["changes"].as_array().map(Vec::len), Some(1));
    assert_eq!(j["changes"][0]["group"], "production");
    assert_eq!(
        j["changes"][0]["clusters"].as_array().map(Vec::len),
        Some(7)
    );
}

#[test]
fn no_change_is_exit_0_and_failures_are_named() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let w = example_repo(tmp.path());
    let o = fleetc(&["diff", "fleet", "--base", "HEAD"], &w);
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    assert!(text(&o.stdout).starts_with("fleetc diff: no changes (13 clusters unchanged)"));
    // A head that does not render is a failure, never "everything removed".
    std::fs::write(w.join("fleet/clusters/dev-eu-west.yaml"), "kind: [").expect("write");
    let o = fleetc(
        &["diff", "fleet", "--base", "HEAD", "--format", "markdown"],
        &w,
    );
    assert_eq!(code(&o), 3, "{}", text(&o.stderr));
    assert!(text(&o.stdout).is_empty());
    assert!(
        text(&o.stderr).contains("the work tree does not render"),
        "{}",
        text(&o.stderr)
    );
    // So is a base that does not render.
    git(&w, &["commit", "-q", "-am", "broken"]);
    git(
        &w,
        &[
            "checkout",
            "-q",
            "HEAD~1",
            "--",
            "fleet/clusters/dev-eu-west.yaml",
        ],
    );
    let o = fleetc(&["diff", "fleet", "--base", "HEAD"], &w);
    assert_eq!(code(&o), 3, "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("HEAD ("), "{}", text(&o.stderr));
    // An invalid revision is invalid input.
    let o = fleetc(&["diff", "fleet", "--base", "nope"], &w);
    assert_eq!(code(&o), 2, "{}", text(&o.stderr));
}

/// A component with one plaintext Secret, on every cluster.
fn add_secret_component(fleet: &Path, secrets: &[(&str, &[(&str, &str)])]) {
    let dir = fleet.join("components/app-secrets");
    std::fs::create_dir_all(dir.join("templates")).expect("mkdir");
    std::fs::write(
        dir.join("component.yaml"),
        "apiVersion: fleetc.dev/v1alpha1\nkind: Component\nmetadata:\n  name: app-secrets\nspec:\n  namespace: apps\n  namespaceMetadata: {labels: {acme.io/owner: apps}}\n  allowPlaintextSecrets: true\n",
    )
    .expect("write");
    let mut y = String::new();
    for (name, data) in secrets {
        y.push_str(&format!(
            "---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\nstringData:\n"
        ));
        for (k, v) in *data {
            y.push_str(&format!("  {k}: {v}\n"));
        }
    }
    std::fs::write(dir.join("templates/secrets.yaml"), y).expect("write");
    std::fs::write(
        fleet.join("placements/app-secrets.yaml"),
        "apiVersion: fleetc.dev/v1alpha1\nkind: Placement\nmetadata:\n  name: app-secrets\nspec:\n  component: app-secrets\n  target: {all: true}\n  tolerations: [{key: maintenance}]\n",
    )
    .expect("write");
}

#[test]
fn secret_values_appear_in_no_diff_output() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let w = example_repo(tmp.path());
    let fleet = w.join("fleet");
    add_secret_component(
        &fleet,
        &[
            (
                "db",
                &[
                    ("password", "old-pass-111"),
                    ("user", "same-user-222"),
                    ("dropped", "gone-333"),
                ],
            ),
            ("removed", &[("token", "removed-token-444")]),
        ],
    );
    git(&w, &["add", "-A"]);
    git(&w, &["commit", "-q", "-m", "secrets"]);
    add_secret_component(
        &fleet,
        &[
            (
                "db",
                &[
                    ("password", "new-pass-555"),
                    ("user", "same-user-222"),
                    ("fresh", "fresh-666"),
                ],
            ),
            ("added", &[("token", "added-token-777")]),
        ],
    );
    let values = [
        "old-pass-111",
        "same-user-222",
        "gone-333",
        "removed-token-444",
        "new-pass-555",
        "fresh-666",
        "added-token-777",
    ];
    for format in ["text", "markdown", "json"] {
        let o = fleetc(
            &[
                "--color", "always", "diff", "fleet", "--base", "HEAD", "--format", format,
            ],
            &w,
        );
        assert_eq!(code(&o), 1, "{}", text(&o.stderr));
        let out = format!("{}{}", text(&o.stdout), text(&o.stderr));
        for v in values {
            assert!(!out.contains(v), "{format}: {v} leaked:\n{out}");
        }
        assert!(
            out.contains("stringData.password"),
            "{format}: changed keys are named:\n{out}"
        );
        assert!(
            out.contains("stringData.fresh") && out.contains("stringData.dropped"),
            "{format}"
        );
    }
    let o = fleetc(&["diff", "fleet", "--base", "HEAD", "--format", "json"], &w);
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    let ops: Vec<(&str, &str)> = j["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .map(|c| {
            (
                c["object"]["name"].as_str().unwrap_or(""),
                c["op"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert!(
        ops.contains(&("db", "changed"))
            && ops.contains(&("added", "added"))
            && ops.contains(&("removed", "removed")),
        "{ops:?}"
    );
}

/// A generated fleet whose diff is megabytes: every cluster changes a large
/// ConfigMap differently.
#[test]
fn a_huge_diff_stays_within_max_bytes() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let w = tmp.path().join("work");
    let fleet = w.join("fleet");
    for d in ["clusters", "components/big/templates", "placements"] {
        std::fs::create_dir_all(fleet.join(d)).expect("mkdir");
    }
    std::fs::write(fleet.join("fleet.yaml"), "apiVersion: fleetc.dev/v1alpha1\nkind: Fleet\nmetadata:\n  name: big\nspec:\n  output: {format: plain}\n").expect("write");
    for i in 0..40 {
        std::fs::write(
            fleet.join(format!("clusters/c{i}.yaml")),
            format!("apiVersion: fleetc.dev/v1alpha1\nkind: Cluster\nmetadata:\n  name: c{i}\n  labels: {{idx: \"{i}\"}}\nspec:\n  owner: team\n  kubernetesVersion: \"1.30.1\"\n"),
        )
        .expect("write");
    }
    std::fs::write(fleet.join("components/big/component.yaml"), "apiVersion: fleetc.dev/v1alpha1\nkind: Component\nmetadata:\n  name: big\nspec:\n  namespace: big\n  values: {rev: one}\n").expect("write");
    let template = "{% for part in range(3) %}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: big-{{ part }}\ndata:\n{% for i in range(700) %}\n  key-{{ i }}: \"{{ values.rev }}-{{ cluster.labels.idx }}-{{ part }}-{{ i }}-padding-padding\"\n{% endfor %}\n{% endfor %}\n";
    std::fs::write(fleet.join("components/big/templates/big.yaml.j2"), template).expect("write");
    std::fs::write(fleet.join("placements/big.yaml"), "apiVersion: fleetc.dev/v1alpha1\nkind: Placement\nmetadata:\n  name: big\nspec:\n  component: big\n  target: {all: true}\n").expect("write");
    git(&w, &["init", "-q", "-b", "main"]);
    git(&w, &["add", "-A"]);
    git(&w, &["commit", "-q", "-m", "one"]);
    edit(
        &fleet.join("components/big/component.yaml"),
        "rev: one",
        "rev: two",
    );

    let o = fleetc(&["diff", "fleet", "--base", "HEAD", "--format", "json"], &w);
    assert_eq!(code(&o), 1, "{}", text(&o.stderr));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    let total: usize = j["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .map(|c| c["diff"].as_str().unwrap_or("").len())
        .sum();
    assert!(
        total > 5_000_000,
        "the diff is {total} bytes; the test needs > 5 MB"
    );

    for max in [65000usize, 20000] {
        let o = fleetc(
            &[
                "diff",
                "fleet",
                "--base",
                "HEAD",
                "--format",
                "markdown",
                "--max-bytes",
                &max.to_string(),
            ],
            &w,
        );
        assert_eq!(code(&o), 1);
        let md = text(&o.stdout);
        assert!(md.len() <= max, "{} > {max}", md.len());
        // Every fence that opens closes.
        let mut open: Option<String> = None;
        for line in md.lines() {
            match &open {
                None if line.starts_with("```") => {
                    open = Some(line.trim_end_matches("diff").to_string())
                }
                Some(f) if line == f => open = None,
                _ => {}
            }
        }
        assert!(open.is_none(), "an unclosed fence in:\n{md}");
        assert_eq!(
            md.matches("<details>").count(),
            md.matches("</details>").count()
        );
        assert!(md.contains("not shown"), "the omitted changes are named");
        assert!(
            md.contains("more lines not shown")
                || md.contains("<code>components/big/big/configmap_big-2.yaml</code>")
        );
        assert!(
            md.contains("| big | 40 | 0 | 120 | 0 |"),
            "{}",
            &md[..md.len().min(2000)]
        );
    }
}

/// `diff` renders only the clusters whose inputs differ; what it reports must
/// be exactly what comparing two full renders reports — for a group value, a
/// cluster moving between groups (region label), and a template change.
#[test]
fn rendering_only_changed_clusters_reports_what_full_renders_do() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let w = example_repo(tmp.path());
    edit(
        &w.join("fleet/groups/region-eu.yaml"),
        "backupBucket: acme-backups-eu-west-1",
        "backupBucket: acme-backups-eu-west-9",
    );
    edit(
        &w.join("fleet/clusters/dev-us-east.yaml"),
        "region: us-east-1",
        "region: eu-west-1",
    );
    git(&w, &["commit", "-q", "-am", "eu bucket; dev-us-east moves"]);
    let comp = std::fs::read_dir(w.join("fleet/components"))
        .expect("components")
        .flatten()
        .map(|e| e.path().join("templates"))
        .find(|t| t.is_dir())
        .expect("a component with templates");
    let tpl = std::fs::read_dir(&comp)
        .expect("templates")
        .flatten()
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with(".yaml") || p.to_string_lossy().ends_with(".j2"))
        .expect("a template");
    let t = std::fs::read_to_string(&tpl).expect("read");
    std::fs::write(
        &tpl,
        t.replacen(
            "metadata:\n",
            "metadata:\n  annotations:\n    example.com/touched: \"yes\"\n",
            1,
        ),
    )
    .expect("write");

    let o = fleetc(
        &["diff", "fleet", "--base", "main~1", "--format", "json"],
        &w,
    );
    assert_eq!(code(&o), 1, "{}", text(&o.stderr));
    let cli: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");

    // The same comparison over two full renders, through the library.
    let repo = w.join("fleet");
    let g = fleetc::git::Git::open(&repo).expect("git");
    let (fs_b, id) = g.read_rev("main~1", &Default::default()).expect("read");
    let fs_h = fleetc::source::read_dir(&repo, &Default::default()).expect("read");
    let full = |fs: &fleetc::source::FileSet| {
        let (c, d) = fleetc::driver::compile(
            fs,
            &fleetc::driver::Options::new(crate::common::TODAY.into()),
        );
        c.unwrap_or_else(|| panic!("{}", d.render(false)))
    };
    let (b, h) = (full(&fs_b), full(&fs_h));
    let mut groups = b.resolved.members.clone();
    groups.extend(h.resolved.members.clone());
    let report = fleetc::diff::compare(
        &b.tree,
        &h.tree,
        &groups,
        &format!("main~1 ({})", fleetc::git::short(id)),
        "the work tree",
    );
    let lib = fleetc::diff::format::json(&report);
    assert_eq!(cli, lib);
    let changed = cli["summary"]["clusters"]["changed"]
        .as_u64()
        .expect("changed");
    assert!(changed >= 4, "{changed} clusters changed");
    assert_eq!(cli["summary"]["clusters"]["total"], 13);
}

/// With a machine output format, stdout is diff's own report when both
/// sides render, and the diagnostics document when one does not (exit 3).
#[test]
fn diff_keeps_stdout_for_its_report_under_a_machine_format() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let w = example_repo(tmp.path());
    edit(
        &w.join("fleet/placements/kyverno.yaml"),
        "replicas: 3",
        "replicas: 4",
    );
    let args = [
        "--output-format",
        "json",
        "diff",
        "fleet",
        "--base",
        "main",
        "--format",
        "json",
    ];
    let o = fleetc(&args, &w);
    assert_eq!(code(&o), 1, "{}", text(&o.stderr));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).expect("one JSON document");
    assert!(report.get("diagnostics").is_none(), "{report}");
    edit(
        &w.join("fleet/placements/kyverno.yaml"),
        "replicas: 4",
        "replicas: {{ nope",
    );
    let o = fleetc(&args, &w);
    assert_eq!(code(&o), 3, "{}", text(&o.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).expect("diagnostics document");
    assert!(doc["summary"]["errors"].as_u64().unwrap_or(0) >= 1, "{doc}");
}

/// A cluster that appears or disappears is one line with its objects
/// counted by kind, not every file in full; `--verbose` shows the files.
#[test]
fn a_new_or_removed_cluster_is_summarised() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let repo = new_fleet(tmp.path());
    git(&repo, &["init", "-q", "-b", "main"]);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "base"]);
    let prod = std::fs::read_to_string(repo.join("clusters/prod-1.yaml")).expect("read");
    std::fs::write(
        repo.join("clusters/prod-2.yaml"),
        prod.replace("prod-1", "prod-2"),
    )
    .expect("write");
    std::fs::remove_file(repo.join("clusters/dev-1.yaml")).expect("rm");
    let o = fleetc(&["diff", "--base", "HEAD"], &repo);
    assert_eq!(code(&o), 1, "{}", text(&o.stderr));
    let out = text(&o.stdout);
    for line in [
        "+ cluster prod-2 (new): 5 objects in 5 files: 1 ConfigMap, 1 Deployment, 1 GitRepository, 1 Kustomization, 1 Namespace",
        "- cluster dev-1 (removed): 5 objects in 5 files: 1 ConfigMap, 1 Deployment, 1 GitRepository, 1 Kustomization, 1 Namespace",
    ] {
        assert!(out.contains(line), "{line}\n{out}");
    }
    assert!(!out.contains("+apiVersion"), "{out}");
    let o = fleetc(&["diff", "--base", "HEAD", "--format", "json"], &repo);
    let d: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(d["wholeClusters"][0]["name"], "dev-1", "{d}");
    assert_eq!(d["wholeClusters"][1]["kinds"]["Deployment"], 1, "{d}");
    let o = fleetc(&["diff", "--base", "HEAD", "--verbose"], &repo);
    let out = text(&o.stdout);
    assert!(
        out.contains("+ components/hello/hello/deployment_hello.yaml (added)"),
        "{out}"
    );
    assert!(out.contains("+apiVersion: apps/v1"), "{out}");
}
