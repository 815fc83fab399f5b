//! `fleetc explain`: which layer set a value and what it shadowed.
use crate::common::*;

#[test]
fn explain_names_the_winning_layer_and_what_it_shadowed() {
    let repo = root().join("examples/fleet-repo");
    let o = fleetc(
        &[
            "explain",
            &repo.to_string_lossy(),
            "prod-eu-west-1",
            "--component",
            "ingress-nginx",
            "--value",
            "replicas",
        ],
        &root(),
    );
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    let out = text(&o.stdout);
    // Three layers set replicas: the component (1), fleet.yaml (2), the placement's `eu` customization (3).
    assert!(out.contains("values.ingress-nginx.replicas = 3"), "{out}");
    // The groups the values come from are shown with --component too, with why.
    assert!(out.contains("\ngroups, in layering order:\n"), "{out}");
    assert!(
        out.contains("production (priority 10): selector matches (env=production)"),
        "{out}"
    );
    insta::with_settings!({snapshot_path => root().join("tests/it/snapshots"), prepend_module_to_snapshot => false, omit_expression => true}, {
        insta::assert_snapshot!("explain_prod_eu_west_1_ingress_replicas", out);
    });
}

#[test]
fn explain_says_why_something_is_not_selected() {
    let repo = root().join("examples/fleet-repo");
    let o = fleetc(
        &["explain", &repo.to_string_lossy(), "edge-factory-2"],
        &root(),
    );
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    let out = text(&o.stdout);
    assert!(
        out.contains("ingress-nginx → ingress-nginx: not selected: excluded by excludeClusters"),
        "{out}"
    );
    assert!(
        out.contains("disallow-default-namespace: skipped until 2030-12-31 by security-team"),
        "{out}"
    );
    assert!(
        out.contains("edge (priority 20): listed in clusters"),
        "{out}"
    );
    assert!(
        out.contains("regulated (priority 30): via member group edge"),
        "{out}"
    );
    let o = fleetc(
        &["explain", &repo.to_string_lossy(), "prod-eu-west"],
        &root(),
    );
    assert_eq!(code(&o), 2);
    assert!(
        text(&o.stderr).contains("did you mean `prod-eu-west-1`?"),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn explain_refuses_a_value_the_cluster_does_not_have() {
    let repo = root().join("examples/fleet-repo");
    let o = fleetc(
        &[
            "explain",
            ".",
            "prod-eu-west-1",
            "--component",
            "ingress-nginx",
            "--value",
            "replicaz",
        ],
        &repo,
    );
    let err = text(&o.stderr);
    assert_eq!(code(&o), 2, "{err}");
    assert!(err.contains("error[unknown-name]: no value `replicaz` on cluster `prod-eu-west-1`; did you mean `replicas`?"), "{err}");
    let o = fleetc(
        &["explain", ".", "prod-eu-west-1", "--value", "values.nope.x"],
        &repo,
    );
    assert_eq!(code(&o), 2);
}

#[test]
fn explain_lists_what_the_clusters_admission_says_of_a_component() {
    let repo = root().join("examples/fleet-repo");
    let run = |cluster: &str| {
        let o = fleetc(
            &[
                "explain",
                &repo.to_string_lossy(),
                cluster,
                "--component",
                "payments-api",
            ],
            &root(),
        );
        assert_eq!(code(&o), 0, "{}", text(&o.stderr));
        text(&o.stdout)
    };
    let out = run("prod-eu-west-1");
    let section = out
        .split("admission (this cluster's policies on payments-api's objects):\n")
        .nth(1)
        .expect("an admission section");
    // The audited memory-limit policy flags the Deployment; the enforced
    // pod-security rules (auto-generated for Deployments) pass it; the
    // generate rule is a skip with its reason.
    assert!(section.contains("fail  ValidatingAdmissionPolicy `app-memory-limits` rule 0 (audit) on Deployment payments/payments-api: containers without a memory limit: api"), "{section}");
    assert!(section.contains("pass  kyverno `disallow-privileged-containers` rule autogen-privileged (enforce) on Deployment payments/payments-api"), "{section}");
    assert!(section.contains("skip  kyverno `default-deny-network` rule default-deny (audit) on Namespace payments: generate rules"), "{section}");
    // On a 1.29 cluster the policy is not placed: nothing fails there.
    let old = run("prod-eu-west-2");
    assert!(!old.contains("app-memory-limits"), "{old}");
}
