//! What a fleet moved from elsewhere needs: one fleet that serves both
//! agents (patches limited to an output format), and clusters that need
//! neither an invented owner nor a repeated Kubernetes version.

use crate::common::*;

/// The example fleet patches Kyverno's HelmRelease for Flux only: it
/// renders in both agents' formats, and without `formats` the Argo CD
/// render (which has no HelmRelease) would fail on the patch.
#[test]
fn a_patch_for_one_format_lets_one_fleet_serve_both_agents() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let repo = tmp.path().join("fleet");
    copy_dir(&root().join("examples/fleet-repo"), &repo);
    for format in ["flux", "argocd"] {
        let out = tmp.path().join(format);
        let o = render_as(&repo, &out, format);
        assert_eq!(code(&o), 0, "{format}: {}", text(&o.stderr));
    }
    let release = std::fs::read_to_string(tmp.path().join(
        "flux/clusters/prod-eu-west-1/components/kyverno/flux-system/helmrelease.helm.toolkit.fluxcd.io_kyverno.yaml",
    ))
    .expect("the HelmRelease");
    assert!(release.contains("remediateLastFailure: true"), "{release}");
    let o = fleetc(
        &["explain", "prod-eu-west-1", "--component", "kyverno"],
        &repo,
    );
    assert!(
        text(&o.stdout).contains("from the placement; flux output only)"),
        "{}",
        text(&o.stdout)
    );
    let placement = repo.join("placements/kyverno.yaml");
    let p = std::fs::read_to_string(&placement).expect("read");
    std::fs::write(&placement, p.replace("      formats: [flux]\n", "")).expect("write");
    let out = tmp.path().join("argocd-again");
    let o = render_as(&repo, &out, "argocd");
    assert_eq!(code(&o), 2);
    assert!(
        text(&o.stderr).contains("error[patch-matches-nothing]"),
        "{}",
        text(&o.stderr)
    );
}

/// `kubernetesVersion` from the Fleet, `owner` from a group: what
/// `explain`, templates and the inventory then show.
#[test]
fn clusters_take_their_version_from_the_fleet_and_owner_from_a_group() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let repo = new_fleet(tmp.path());
    let edit = |rel: &str, from: &str, to: &str| {
        let p = repo.join(rel);
        let t = std::fs::read_to_string(&p).expect("read");
        assert!(t.contains(from), "{rel}: {from}");
        std::fs::write(&p, t.replacen(from, to, 1)).expect("write");
    };
    for c in ["dev-1", "prod-1"] {
        let f = format!("clusters/{c}.yaml");
        edit(&f, "  owner: team-platform\n", "");
        edit(&f, "  kubernetesVersion: \"1.31.0\"\n", "");
    }
    // Without a default, a cluster without a version is an error.
    let o = fleetc(&["validate"], &repo);
    assert_eq!(code(&o), 2);
    assert!(
        text(&o.stderr).contains(
            "cluster `dev-1` has no `spec.kubernetesVersion`, and the Fleet sets no default"
        ),
        "{}",
        text(&o.stderr)
    );
    edit(
        "fleet.yaml",
        "spec:\n",
        "spec:\n  kubernetesVersion: \"1.30.4\"\n",
    );
    edit(
        "groups/production.yaml",
        "spec:\n",
        "spec:\n  owner: team-prod\n",
    );
    edit(
        "components/hello/templates/hello.yaml.j2",
        "  cluster: {{ cluster.name }}\n",
        "  cluster: {{ cluster.name }}\n  owner: {{ cluster.owner | quote }}\n  kubernetes: {{ cluster.kubernetesVersion | quote }}\n",
    );
    let o = fleetc(&["validate"], &repo);
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    let o = fleetc(&["explain", "prod-1"], &repo);
    assert!(
        text(&o.stdout).contains("owner team-prod, Kubernetes 1.30.4"),
        "{}",
        text(&o.stdout)
    );
    let out = tmp.path().join("out");
    let o = render_as(&repo, &out, "plain");
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    let inv: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("inventory.json")).expect("inventory"))
            .expect("json");
    let cluster = |n: &str| {
        inv["clusters"]
            .as_array()
            .expect("clusters")
            .iter()
            .find(|c| c["name"] == n)
            .cloned()
            .expect("cluster")
    };
    assert_eq!(cluster("prod-1")["owner"], "team-prod");
    assert_eq!(cluster("dev-1")["owner"], "");
    assert_eq!(cluster("dev-1")["kubernetesVersion"], "1.30.4");
    let cm = std::fs::read_to_string(
        out.join("clusters/prod-1/components/hello/hello/configmap_hello.yaml"),
    )
    .unwrap_or_default();
    assert!(
        cm.contains("owner: team-prod") && cm.contains("kubernetes: \"1.30.4\""),
        "{cm}"
    );
}

/// A chart given by its archive's URL (as some Rancher bundles do) would
/// become a HelmRepository no agent can read: refused, naming the forms
/// that work.
#[test]
fn a_chart_archive_url_is_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let repo = new_fleet(tmp.path());
    std::fs::remove_dir_all(repo.join("components/hello/templates")).expect("rm");
    std::fs::write(
        repo.join("components/hello/component.yaml"),
        "apiVersion: fleetc.dev/v1alpha1\nkind: Component\nmetadata:\n  name: hello\nspec:\n  namespace: hello\n  version: 1.2.3\n  helm:\n    chart: hello\n    repository: https://charts.example.com/hello-1.2.3.tgz\n",
    )
    .expect("write");
    let o = fleetc(&["validate"], &repo);
    assert_eq!(code(&o), 2);
    let err = text(&o.stderr);
    assert!(
        err.contains("`https://charts.example.com/hello-1.2.3.tgz` is a chart archive, not a chart repository")
            && err.contains("oci://"),
        "{err}"
    );
}

/// Two targets whose merge patches set the same field of the same object
/// differently on a cluster: warned like two values, silenced by
/// `overrides`; fields in lists (merged by key) are not compared.
#[test]
fn two_targets_patching_one_field_are_warned() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let repo = new_fleet(tmp.path());
    let placement = |overrides: &str| {
        format!(
            "apiVersion: fleetc.dev/v1alpha1\nkind: Placement\nmetadata:\n  name: hello\nspec:\n  component: hello\n  target: {{all: true}}\n  targets:\n    - name: production\n      target: {{groups: [production]}}\n      patches:\n        - target: {{kind: Deployment, name: hello}}\n          patch: {{spec: {{revisionHistoryLimit: 5, template: {{spec: {{containers: [{{name: hello, image: a}}]}}}}}}}}\n    - name: everywhere\n      target: {{all: true}}{overrides}\n      patches:\n        - target: {{kind: Deployment, name: hello}}\n          patch: {{spec: {{revisionHistoryLimit: 2, template: {{spec: {{containers: [{{name: hello, image: b}}]}}}}}}}}\n"
        )
    };
    std::fs::write(repo.join("placements/hello.yaml"), placement("")).expect("write");
    let o = fleetc(&["validate"], &repo);
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    let err = text(&o.stderr);
    assert!(
        err.contains("warning[target-override]: targets `production` and `everywhere` of placement `hello` both set `spec.revisionHistoryLimit` of Deployment `hello` on this cluster: the later, `everywhere`, wins"),
        "{err}"
    );
    assert_eq!(err.matches("warning[target-override]").count(), 1, "{err}");
    std::fs::write(
        repo.join("placements/hello.yaml"),
        placement("\n      overrides: [production]"),
    )
    .expect("write");
    let o = fleetc(&["validate"], &repo);
    assert!(
        !text(&o.stderr).contains("target-override"),
        "{}",
        text(&o.stderr)
    );
}
