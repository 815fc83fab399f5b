//! `fleetc report`: snapshots of the text and markdown forms on the example
//! fleet, the json form against fleet-schema/report.schema.json, expired
//! exemptions listed (exit 0), `--rev`, and the html page in headless
//! Chromium (no script errors, the DOM has a row per cluster, a header sort
//! linked by `#sort=` reorders it, a screenshot is taken).
use std::path::{Path, PathBuf};
use std::process::Command;

use fleetc::schema;

use crate::common::*;
use crate::git::{example_repo, git};

/// pod-security-baseline's exemption (2030-06-30) is 15 days from expiry;
/// disallow-default-namespace's (2030-12-31) is active.
const TODAY: &str = "2030-06-15";

fn report(args: &[&str], cwd: &Path) -> (i32, String, String) {
    let mut argv = vec!["--color", "never", "report"];
    argv.extend_from_slice(args);
    let o = fleetc(&argv, cwd);
    (code(&o), text(&o.stdout), text(&o.stderr))
}

fn example() -> PathBuf {
    root().join("examples/fleet-repo")
}

fn json(today: &str) -> serde_json::Value {
    let (c, out, err) = report(
        &["--today", today, "--format", "json", "examples/fleet-repo"],
        &root(),
    );
    assert_eq!(c, 0, "{err}");
    serde_json::from_str(&out).expect("json")
}

fn names(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_str().expect("string").to_string())
        .collect()
}

#[test]
fn text_and_markdown_snapshots() {
    for (format, name) in [("text", "report_text"), ("markdown", "report_markdown")] {
        let (c, out, err) = report(
            &["--today", TODAY, "--format", format, "examples/fleet-repo"],
            &root(),
        );
        assert_eq!(c, 0, "{err}");
        insta::assert_snapshot!(name, out);
    }
}

#[test]
fn json_conforms_and_says_what_the_fleet_is() {
    let r = json(TODAY);
    let errs = schema::check_json("FleetReport", &r);
    assert!(errs.is_empty(), "{errs:?}");
    let clusters = r["clusters"].as_array().expect("clusters");
    let n = std::fs::read_dir(example().join("clusters"))
        .expect("clusters/")
        .count();
    assert_eq!(clusters.len(), n);
    assert_eq!(r["summary"]["clusters"], n);
    // Every cluster is in exactly one Kubernetes version row.
    let mut in_versions: Vec<String> = r["kubernetesVersions"]
        .as_array()
        .expect("versions")
        .iter()
        .flat_map(|v| names(&v["clusters"]))
        .collect();
    in_versions.sort();
    let mut all: Vec<String> = clusters
        .iter()
        .map(|c| c["name"].as_str().expect("name").to_string())
        .collect();
    all.sort();
    assert_eq!(in_versions, all);
    // Posture: the categories are disjoint; the exemptions land where the policies say.
    for p in r["policies"].as_array().expect("policies") {
        let mut seen = std::collections::BTreeSet::new();
        for k in ["enforce", "audit", "exemptAudit", "exemptSkip"] {
            for c in names(&p[k]) {
                assert!(seen.insert(c.clone()), "{c} twice in {}", p["name"]);
            }
        }
    }
    let policy = |name: &str| {
        r["policies"]
            .as_array()
            .expect("policies")
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("no policy {name}"))
            .clone()
    };
    assert_eq!(
        names(&policy("pod-security-baseline")["exemptAudit"]),
        ["edge-factory-1"]
    );
    assert_eq!(
        names(&policy("disallow-default-namespace")["exemptSkip"]),
        ["edge-factory-2"]
    );
    let ex = r["exemptions"].as_array().expect("exemptions");
    assert_eq!(ex[0]["policy"], "pod-security-baseline");
    assert_eq!(ex[0]["status"], "expiring");
    assert_eq!(ex[0]["daysLeft"], 15);
    assert_eq!(ex[1]["status"], "active");
    // monitoring-agent is mid-rollout: two versions in service.
    let ma = r["components"]
        .as_array()
        .expect("components")
        .iter()
        .find(|c| c["name"] == "monitoring-agent")
        .expect("monitoring-agent");
    assert_eq!(ma["skew"], true);
    assert_eq!(ma["rollouts"][0]["inFlight"], true);
    assert!(r["sourceRevision"].is_null());
}

#[test]
fn an_expired_exemption_is_listed_and_the_report_still_exits_0() {
    let r = json("2030-07-01");
    let ex = r["exemptions"].as_array().expect("exemptions");
    assert_eq!(ex[0]["policy"], "pod-security-baseline");
    assert_eq!(ex[0]["status"], "expired");
    assert_eq!(ex[0]["daysLeft"], -1);
    assert_eq!(r["summary"]["exemptionsExpired"], 1);
    assert!(r["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .any(|f| f["severity"] == "error"
            && f["message"].as_str().is_some_and(|m| m.contains("expired"))));
    let (c, out, err) = report(&["--today", "2030-07-01", "examples/fleet-repo"], &root());
    assert_eq!(c, 0, "{err}");
    assert!(out.contains("EXPIRED"), "{out}");
    assert!(err.starts_with("note: the report lists 1 error"), "{err}");
    // validate is what fails.
    let o = fleetc(
        &["--today", "2030-07-01", "validate", "examples/fleet-repo"],
        &root(),
    );
    assert_eq!(code(&o), 2);
}

#[test]
fn rev_reports_a_commit() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let w = example_repo(tmp.path());
    let head = git(&w, &["rev-parse", "HEAD"]);
    std::fs::remove_dir_all(w.join("fleet/clusters")).expect("rm"); // the work tree is not read
    let (c, out, err) = report(
        &[
            "--today", TODAY, "--format", "json", "--rev", "HEAD", "fleet",
        ],
        &w,
    );
    assert_eq!(c, 0, "{err}");
    let r: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(r["sourceRevision"], head.as_str());
    assert_eq!(r["summary"]["clusters"], 13);
}

/// `CHROMIUM` (set by `cargo xtask test`), else the first Chromium on PATH.
fn chromium() -> PathBuf {
    if let Some(p) = std::env::var_os("CHROMIUM") {
        let p = PathBuf::from(p);
        assert!(
            p.is_file(),
            "CHROMIUM={} does not exist; run `cargo xtask test`, which finds or installs Chromium",
            p.display()
        );
        return p;
    }
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        if let Ok(o) = Command::new("sh")
            .args(["-c", &format!("command -v {name}")])
            .output()
        {
            let p = text(&o.stdout).trim().to_string();
            if o.status.success() && !p.is_empty() {
                return PathBuf::from(p);
            }
        }
    }
    panic!(
        "headless Chromium is required for the report page test and none of chromium, \
         chromium-browser, google-chrome is on PATH; run `cargo xtask test`, which finds it or \
         installs Debian's `chromium` (as root) and sets CHROMIUM"
    );
}

/// Run headless Chromium on `url`; returns (stdout, stderr).
fn headless(tmp: &Path, extra: &[&str], url: &str) -> (String, String) {
    let profile = tmp.join(format!("profile-{}", extra.len()));
    let mut args = vec![
        "--headless".to_string(),
        "--no-sandbox".into(),
        "--disable-gpu".into(),
        "--no-first-run".into(),
        "--disable-extensions".into(),
        "--disable-background-networking".into(),
        "--enable-logging=stderr".into(),
        "--v=0".into(),
        format!("--user-data-dir={}", profile.display()),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    args.push(url.into());
    let o = Command::new(chromium())
        .args(&args)
        .output()
        .expect("run chromium");
    assert!(o.status.success(), "chromium failed:\n{}", text(&o.stderr));
    (text(&o.stdout), text(&o.stderr))
}

/// The `<body ...>` start tag, where the script records its state.
fn body_tag(dom: &str) -> &str {
    let start = dom.find("<body").expect("<body>");
    &dom[start..start + dom[start..].find('>').expect("end of tag")]
}

/// `<tr data-cluster="...">` of the inventory table, in DOM order.
fn inventory_rows(dom: &str) -> Vec<String> {
    let start = dom.find("id=\"inventory-table\"").expect("inventory table");
    let end = start + dom[start..].find("</table>").expect("end of table");
    dom[start..end]
        .split("<tr data-cluster=\"")
        .skip(1)
        .map(|s| s[..s.find('"').expect("quote")].to_string())
        .collect()
}

#[test]
fn the_html_page_runs_in_headless_chromium() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (c, page, err) = report(
        &["--today", TODAY, "--format", "html", "examples/fleet-repo"],
        &root(),
    );
    assert_eq!(c, 0, "{err}");
    // Self-contained: nothing is fetched.
    assert!(!page.contains("src="), "no external scripts or images");
    assert!(!page.contains("<link"), "no external stylesheets");
    assert!(
        page.split("href=\"").skip(1).all(|s| s.starts_with('#')),
        "links are in-page only"
    );
    let file = tmp.path().join("report.html");
    std::fs::write(&file, &page).expect("write");
    let url = format!("file://{}", file.display());
    let r = json(TODAY);
    let clusters: Vec<String> = r["clusters"]
        .as_array()
        .expect("clusters")
        .iter()
        .map(|c| c["name"].as_str().expect("name").to_string())
        .collect();

    // As loaded: the script ran without errors, one row per cluster.
    let (dom, log) = headless(tmp.path(), &["--dump-dom"], &url);
    let body = body_tag(&dom);
    assert!(
        body.contains("data-ready=\"1\""),
        "the script did not finish: {body}\n{log}"
    );
    assert!(
        !body.contains("data-errors"),
        "script errors in the page: {body}"
    );
    let console: Vec<&str> = log.lines().filter(|l| l.contains(":CONSOLE")).collect();
    assert!(console.is_empty(), "console messages: {console:?}");
    assert_eq!(inventory_rows(&dom), clusters);
    let matrix_rows = dom.matches("<tr data-component=\"").count();
    assert_eq!(
        matrix_rows,
        r["components"].as_array().expect("components").len()
    );
    let bars = dom.matches("<rect class=\"bar\"").count();
    assert_eq!(
        bars,
        r["kubernetesVersions"].as_array().expect("versions").len()
    );

    // A sort linked from the address: by owner, descending (ties keep name order).
    let (dom, _) = headless(
        tmp.path(),
        &["--dump-dom"],
        &format!("{url}#sort=inventory-table:owner:desc"),
    );
    let owner_of = |c: &str| -> String {
        r["clusters"]
            .as_array()
            .expect("clusters")
            .iter()
            .find(|x| x["name"] == c)
            .and_then(|x| x["owner"].as_str())
            .expect("owner")
            .to_string()
    };
    let mut want = clusters.clone();
    want.sort_by_key(|c| std::cmp::Reverse(owner_of(c)));
    assert_eq!(inventory_rows(&dom), want);
    assert!(dom.contains("aria-sort=\"descending\""));

    // A screenshot of the whole page.
    let png = tmp.path().join("report.png");
    headless(
        tmp.path(),
        &[
            &format!("--screenshot={}", png.display()),
            "--window-size=1400,3000",
            "--hide-scrollbars",
        ],
        &url,
    );
    let bytes = std::fs::read(&png).expect("screenshot written");
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    assert!(
        bytes.len() > 20_000,
        "a nearly empty screenshot: {} bytes",
        bytes.len()
    );
}

/// `--format policy-report`: every document passes the wgpolicyk8s.io
/// v1alpha2 schema, in fleetc's own check and in check-jsonschema; the
/// example's one admission finding is there with its policy, rule and mode;
/// and a document the API would refuse fails both checks.
#[test]
fn policy_reports_conform_and_carry_the_findings() {
    let (c, out, err) = report(
        &[
            "--today",
            TODAY,
            "--format",
            "policy-report",
            "examples/fleet-repo",
        ],
        &root(),
    );
    assert_eq!(c, 0, "{err}");
    let docs = fleetc::yaml::parse_documents(
        &fleetc::diag::Source::new("policy-report", out.as_str()),
        &Default::default(),
    )
    .expect("a YAML stream");
    let n = std::fs::read_dir(example().join("clusters"))
        .expect("clusters/")
        .count();
    let json: Vec<serde_json::Value> = docs.iter().map(|d| d.to_json()).collect();
    assert_eq!(
        json.iter()
            .filter(|d| d["kind"] == "ClusterPolicyReport")
            .count(),
        n
    );
    for d in &json {
        let errs = fleetc::schema::check_json("PolicyReport", d);
        assert!(errs.is_empty(), "{}: {errs:?}", d["metadata"]["name"]);
    }
    let finding = json
        .iter()
        .filter(|d| d["metadata"]["namespace"] == "payments")
        .flat_map(|d| d["results"].as_array().cloned().unwrap_or_default())
        .find(|r| r["policy"] == "app-memory-limits" && r["result"] == "fail")
        .expect("the app-memory-limits finding");
    assert_eq!(finding["rule"], "0");
    assert_eq!(finding["source"], "ValidatingAdmissionPolicy");
    assert_eq!(finding["properties"]["fleetc.dev/mode"], "audit");
    assert_eq!(finding["properties"]["binding"], "app-memory-limits");
    assert_eq!(finding["resources"][0]["name"], "payments-api");

    // The independent check: check-jsonschema on every document, and on
    // one it must refuse.
    let bin = tool("CHECK_JSONSCHEMA", "check-jsonschema");
    let tmp = tempfile::tempdir().expect("tempdir");
    let schema = tmp.path().join("schema.json");
    let o = fleetc(&["schema", "PolicyReport"], &root());
    std::fs::write(&schema, &o.stdout).expect("write schema");
    let mut files = Vec::new();
    for (i, d) in json.iter().enumerate() {
        let f = tmp.path().join(format!("r{i:03}.json"));
        std::fs::write(&f, d.to_string()).expect("write");
        files.push(f);
    }
    let check = |files: &[std::path::PathBuf]| {
        Command::new(&bin)
            .arg("--schemafile")
            .arg(&schema)
            .args(files)
            .output()
            .expect("run check-jsonschema")
    };
    let o = check(&files);
    assert!(o.status.success(), "{}{}", text(&o.stdout), text(&o.stderr));
    let mut bad = json[1].clone();
    bad["results"][0]["result"] = "denied".into();
    let f = tmp.path().join("bad.json");
    std::fs::write(&f, bad.to_string()).expect("write");
    assert!(!check(&[f]).status.success());
    assert!(!fleetc::schema::check_json("PolicyReport", &bad).is_empty());
}
