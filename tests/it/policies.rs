//! Policies end to end: the resolved mode lands in each engine's own fields,
//! exemptions loosen it (audit) or take the policy off a cluster (skip), and
//! "today" comes from --today, then SOURCE_DATE_EPOCH.
use std::path::Path;
use std::process::Command;

use crate::common::*;

const KYVERNO: &str = r#"apiVersion: kyverno.io/v1
kind: ClusterPolicy
metadata:
  name: no-privileged
spec:
  validationFailureAction: Audit
  rules:
    - name: privileged
      match: {any: [{resources: {kinds: [Pod]}}]}
      validate:
        failureAction: Audit
        message: "{{ request.object.metadata.name }} must not be privileged"
        pattern: {spec: {containers: [{"=(securityContext)": {"=(privileged)": "false"}}]}}
    - name: no-action
      match: {any: [{resources: {kinds: [Pod]}}]}
      validate:
        message: "left alone"
        deny:
          conditions:
            any:
              - {key: "{{ request.object.metadata.name }}", operator: Equals, value: "forbidden-*"}
"#;

fn fleet_with_policies(tmp: &Path) -> std::path::PathBuf {
    let repo = tmp.join("repo");
    copy_dir(&root().join("tests/it/cases/_base"), &repo);
    let k = repo.join("policies/no-privileged");
    std::fs::create_dir_all(k.join("templates")).expect("mkdir");
    std::fs::write(
        k.join("policy.yaml"),
        "apiVersion: fleetc.dev/v1alpha1\nkind: Policy\nmetadata: {name: no-privileged}\nspec:\n  engine: kyverno\n  mode: audit\n  enforce: {groups: [prod]}\n  exemptions:\n    - target: {clusters: [b]}\n      reason: legacy\n      approvedBy: security\n      expires: 2027-01-31\n      effect: audit\n",
    )
    .expect("write");
    std::fs::write(k.join("templates/policy.yaml"), KYVERNO).expect("write");
    // The web namespace names its owner, as the Gatekeeper policy below
    // requires (else the clusters where it enforces would reject it).
    std::fs::write(
        repo.join("components/web/component.yaml"),
        "apiVersion: fleetc.dev/v1alpha1\nkind: Component\nmetadata:\n  name: web\nspec:\n  namespace: web\n  namespaceMetadata: {labels: {owner: web-team}}\n  version: 1.0.0\n  values: {replicas: 1, port: 8080}\n",
    )
    .expect("write");
    let g = repo.join("policies/owner-label");
    std::fs::create_dir_all(g.join("templates")).expect("mkdir");
    std::fs::write(
        g.join("policy.yaml"),
        "apiVersion: fleetc.dev/v1alpha1\nkind: Policy\nmetadata: {name: owner-label}\nspec:\n  engine: gatekeeper\n  mode: enforce\n  exemptions:\n    - target: {clusters: [c]}\n      reason: lab cluster\n      approvedBy: security\n      expires: 2027-01-31\n      effect: skip\n",
    )
    .expect("write");
    std::fs::write(
        g.join("templates/constraint.yaml.j2"),
        "apiVersion: constraints.gatekeeper.sh/v1beta1\nkind: K8sRequiredLabels\nmetadata:\n  name: owner\n  annotations: {mode: {{ policy.mode }}}\nspec:\n  enforcementAction: warn\n  match:\n    kinds: [{apiGroups: [\"\"], kinds: [Namespace]}]\n  parameters: {labels: [owner]}\n",
    )
    .expect("write");
    // The constraint's kind comes from its template, rendered beside it.
    std::fs::write(
        g.join("templates/template.yaml"),
        "apiVersion: templates.gatekeeper.sh/v1\nkind: ConstraintTemplate\nmetadata:\n  name: k8srequiredlabels\nspec:\n  crd:\n    spec:\n      names: {kind: K8sRequiredLabels}\n  targets:\n    - target: admission.k8s.gatekeeper.sh\n      rego: |\n        package k8srequiredlabels\n        violation[{\"msg\": msg}] {\n          not input.review.object.metadata.labels.owner\n          msg := \"an owner label is required\"\n        }\n",
    )
    .expect("write");
    repo
}

fn doc(out: &Path, rel: &str) -> serde_json::Value {
    let t = std::fs::read_to_string(out.join(rel)).unwrap_or_else(|_| panic!("{rel} missing"));
    fleetc::yaml::parse_single(
        &fleetc::diag::Source::new(rel, t.as_str()),
        &Default::default(),
    )
    .expect("yaml")
    .expect("doc")
    .to_json()
}

#[test]
fn modes_land_in_each_engines_fields() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let repo = fleet_with_policies(tmp.path());
    let out = render(&repo, tmp.path(), &["--today", "2027-01-31"]);
    let kyv = |c: &str| {
        doc(
            &out,
            &format!(
                "clusters/{c}/policies/no-privileged/clusterpolicy.kyverno.io_no-privileged.yaml"
            ),
        )
    };
    // a: prod → enforce; b: prod but exempted (audit); c: baseline audit.
    for (c, want) in [("a", "Enforce"), ("b", "Audit"), ("c", "Audit")] {
        let p = kyv(c);
        assert_eq!(p["spec"]["validationFailureAction"], want, "{c}");
        assert_eq!(
            p["spec"]["rules"][0]["validate"]["failureAction"], want,
            "{c}"
        );
        assert!(
            p["spec"]["rules"][1]["validate"]
                .get("failureAction")
                .is_none(),
            "rules without one are left alone"
        );
        // Kyverno's own {{ }} is untouched.
        assert_eq!(
            p["spec"]["rules"][0]["validate"]["message"],
            "{{ request.object.metadata.name }} must not be privileged"
        );
    }
    let gk = |c: &str| {
        doc(&out, &format!("clusters/{c}/policies/owner-label/k8srequiredlabels.constraints.gatekeeper.sh_owner.yaml"))
    };
    assert_eq!(gk("a")["spec"]["enforcementAction"], "deny");
    assert_eq!(gk("a")["metadata"]["annotations"]["mode"], "enforce");
    assert!(
        !out.join("clusters/c/policies/owner-label").exists(),
        "skip exemption leaves the policy off c"
    );
    let k = std::fs::read_to_string(out.join("clusters/c/kustomization.yaml")).expect("read");
    assert!(
        k.contains("policies/no-privileged") && !k.contains("policies/owner-label"),
        "{k}"
    );
}

#[test]
fn an_exemption_expires_after_its_day() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let repo = fleet_with_policies(tmp.path());
    let o = fleetc(&["--today", "2027-02-01", "validate", "repo"], tmp.path());
    assert_eq!(code(&o), 2);
    let err = text(&o.stderr);
    assert!(
        err.contains("no-privileged") && err.contains("cluster b") && err.contains("2027-01-31"),
        "{err}"
    );
    assert!(
        err.contains("policies/no-privileged/policy.yaml:12:"),
        "{err}"
    );
    // SOURCE_DATE_EPOCH is the fallback for --today: 2027-02-01T00:00:00Z and the day before.
    for (epoch, want) in [("1801440000", 2), ("1801439999", 0)] {
        let o = Command::new(env!("CARGO_BIN_EXE_fleetc"))
            .args(["validate", "repo"])
            .current_dir(tmp.path())
            .env("SOURCE_DATE_EPOCH", epoch)
            .output()
            .expect("run");
        assert_eq!(
            code(&o),
            want,
            "SOURCE_DATE_EPOCH={epoch}: {}",
            text(&o.stderr)
        );
    }
    let _ = repo;
}
