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

/// A chart kept in the fleet (`helm.path`): copied byte for byte into the
/// unit's directory of each cluster, installed from there by Flux (the
/// rendered branch's GitRepository) and Argo CD (a path source); its files
/// are the cluster's inputs, and its Chart.yaml decides the version.
#[test]
fn a_chart_kept_in_the_fleet_is_installed_from_the_rendered_branch() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let repo = tmp.path().join("fleet");
    copy_dir(&root().join("examples/fleet-repo"), &repo);
    let unit = "clusters/prod-eu-west-1/components/status-page";
    let flux = tmp.path().join("flux");
    let o = render_as(&repo, &flux, "flux");
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    for f in [
        "Chart.yaml",
        "values.yaml",
        "templates/deployment.yaml",
        "templates/_helpers.tpl",
    ] {
        assert_eq!(
            std::fs::read(flux.join(unit).join("chart").join(f)).expect("copied"),
            std::fs::read(repo.join("components/status-page/chart").join(f)).expect("source"),
            "{f}"
        );
    }
    let release = std::fs::read_to_string(
        flux.join(unit)
            .join("flux-system/helmrelease.helm.toolkit.fluxcd.io_status-page.yaml"),
    )
    .expect("the HelmRelease");
    assert!(
        release.contains("      chart: ./clusters/prod-eu-west-1/components/status-page/chart\n      sourceRef:\n        kind: GitRepository\n        name: fleet-rendered\n        namespace: flux-system\n      reconcileStrategy: Revision\n"),
        "{release}"
    );
    // No HelmRepository for it, and the unit lists only the release.
    let listed =
        std::fs::read_to_string(flux.join(unit).join("kustomization.yaml")).expect("listing");
    assert_eq!(listed.matches("- ").count(), 1, "{listed}");
    let argocd = tmp.path().join("argocd");
    let o = render_as(&repo, &argocd, "argocd");
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    let app = std::fs::read_to_string(argocd.join("argocd/prod-eu-west-1/status-page.yaml"))
        .expect("app");
    assert!(
        app.contains("    targetRevision: rendered\n    path: clusters/prod-eu-west-1/components/status-page/chart\n    helm:\n      releaseName: status-page\n"),
        "{app}"
    );
    assert!(argocd.join(unit).join("chart/Chart.yaml").is_file());

    // The chart's files are inputs: a change to one is a change of the tree.
    let tpl = repo.join("components/status-page/chart/templates/service.yaml");
    let t = std::fs::read_to_string(&tpl).expect("read");
    std::fs::write(&tpl, t.replace("port: 80", "port: 8080")).expect("write");
    let o = fleetc(
        &["render", "--check", "-o", flux.to_str().expect("utf-8")],
        &repo,
    );
    assert_eq!(code(&o), 1, "{}", text(&o.stderr));
    assert!(
        text(&o.stdout).contains(&format!("{unit}/chart/templates/service.yaml")),
        "{}",
        text(&o.stdout)
    );

    // Chart.yaml decides the version: another one is refused, as is a
    // target's; and a directory without Chart.yaml is no chart.
    let component = repo.join("components/status-page/component.yaml");
    let c = std::fs::read_to_string(&component).expect("read");
    std::fs::write(
        &component,
        c.replace("  helm:\n", "  version: 0.4.0\n  helm:\n"),
    )
    .expect("write");
    let placement = repo.join("placements/status-page.yaml");
    let p = std::fs::read_to_string(&placement).expect("read");
    std::fs::write(
        &placement,
        format!("{p}  targets:\n    - target: {{groups: [region-eu]}}\n      version: 0.2.0\n"),
    )
    .expect("write");
    let o = fleetc(&["validate"], &repo);
    let err = text(&o.stderr);
    assert_eq!(code(&o), 2, "{err}");
    assert!(err.contains("`status-page` says version 0.4.0, and its chart in components/status-page/chart/ is version 0.3.0"), "{err}");
    std::fs::write(&component, &c).expect("write");
    let o = fleetc(&["validate"], &repo);
    let err = text(&o.stderr);
    assert_eq!(code(&o), 2, "{err}");
    assert!(err.contains("placement `status-page` sets a version of `status-page`, whose chart is kept in the fleet"), "{err}");
    std::fs::write(&placement, p).expect("write");
    std::fs::remove_file(repo.join("components/status-page/chart/Chart.yaml")).expect("rm");
    let o = fleetc(&["validate"], &repo);
    let err = text(&o.stderr);
    assert_eq!(code(&o), 2, "{err}");
    assert!(
        err.contains("components/status-page/chart/ has no Chart.yaml: it is not a Helm chart"),
        "{err}"
    );
}
