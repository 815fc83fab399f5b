//! Agent settings (`spec.agent`): layered like values through the fleet,
//! its groups, the cluster, the placement and its targets; laid over the
//! Flux Kustomization, the Flux HelmRelease and the Argo CD Application;
//! refused where they would take over what fleetc sets, and checked against
//! the agents' CRDs at the line that wrote them.

use std::path::Path;

use crate::common::*;

fn append(repo: &Path, rel: &str, text: &str) {
    let p = repo.join(rel);
    let mut t = std::fs::read_to_string(&p).expect("read");
    t.push_str(text);
    std::fs::write(&p, t).expect("write");
}

fn read(dir: &Path, rel: &str) -> String {
    std::fs::read_to_string(dir.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// A new fleet with settings on every layer, each one overriding the one
/// before on one field (the later layer wins, as with values).
fn layered_fleet(dir: &Path) -> std::path::PathBuf {
    let repo = new_fleet(dir);
    append(
        &repo,
        "components/hello/component.yaml",
        "  agent:\n    kustomization: {timeout: 1m, retryInterval: 1m, force: false}\n    application:\n      syncPolicy:\n        syncOptions: [ServerSideApply=true]\n      revisionHistoryLimit: 3\n",
    );
    append(
        &repo,
        "fleet.yaml",
        "  agent:\n    hello:\n      kustomization: {retryInterval: 2m}\n",
    );
    append(
        &repo,
        "groups/production.yaml",
        "  agent:\n    hello:\n      kustomization: {timeout: 10m, wait: true}\n      application: {revisionHistoryLimit: 10}\n",
    );
    append(
        &repo,
        "clusters/prod-1.yaml",
        "  agent:\n    hello:\n      kustomization: {force: true}\n",
    );
    let placement = repo.join("placements/hello.yaml");
    let p = std::fs::read_to_string(&placement).expect("read");
    let p = p.replace(
        "  targets:\n",
        "  agent:\n    kustomization: {interval: 2m}\n  targets:\n",
    ) + "      agent:\n        kustomization: {timeout: 15m}\n";
    std::fs::write(&placement, p).expect("write");
    repo
}

#[test]
fn settings_layer_like_values_and_reach_each_agents_object() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let repo = layered_fleet(tmp.path());
    let flux = tmp.path().join("flux");
    let o = render_as(&repo, &flux, "flux");
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    let ks = "flux/flux-system/kustomization.kustomize.toolkit.fluxcd.io_hello.yaml";
    let dev = read(&flux, &format!("clusters/dev-1/{ks}"));
    let prod = read(&flux, &format!("clusters/prod-1/{ks}"));
    // dev-1: the component's, the Fleet's retryInterval, the placement's interval.
    for line in [
        "  interval: 2m\n",
        "  timeout: 1m\n",
        "  retryInterval: 2m\n",
        "  force: false\n",
    ] {
        assert!(dev.contains(line), "dev-1 lacks {line:?}:\n{dev}");
    }
    assert!(!dev.contains("wait:"), "{dev}");
    // prod-1: the group's wait, the cluster's force, the target's timeout.
    for line in [
        "  interval: 2m\n",
        "  timeout: 15m\n",
        "  retryInterval: 2m\n",
        "  force: true\n",
        "  wait: true\n",
    ] {
        assert!(prod.contains(line), "prod-1 lacks {line:?}:\n{prod}");
    }
    // The fleet-owned fields are untouched.
    assert!(
        prod.contains("  path: ./clusters/prod-1/components/hello\n"),
        "{prod}"
    );

    let argocd = tmp.path().join("argocd");
    let o = render_as(&repo, &argocd, "argocd");
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    let app = read(&argocd, "argocd/prod-1/hello.yaml");
    // fleetc's CreateNamespace stays beside the setting's options.
    assert!(
        app.contains("    syncOptions:\n    - CreateNamespace=true\n    - ServerSideApply=true\n"),
        "{app}"
    );
    assert!(app.contains("  revisionHistoryLimit: 10\n"), "{app}");
    assert!(app.contains("      selfHeal: true\n"), "{app}");
    let dev_app = read(&argocd, "argocd/dev-1/hello.yaml");
    assert!(dev_app.contains("  revisionHistoryLimit: 3\n"), "{dev_app}");
    // Flux settings do not reach Argo CD, nor Argo CD's Flux.
    assert!(!app.contains("timeout"), "{app}");
    assert!(!prod.contains("revisionHistoryLimit"), "{prod}");
}

/// A HelmRelease setting of a Helm component reaches its HelmRelease in
/// flux; an unknown field there is reported at its line, with the field
/// the user probably meant.
#[test]
fn helm_release_settings_and_their_typos() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let repo = tmp.path().join("fleet");
    copy_dir(&root().join("examples/fleet-repo"), &repo);
    let out = tmp.path().join("out");
    let o = render_as(&repo, &out, "flux");
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    let release = read(
        &out,
        "clusters/dev-eu-west/components/kyverno/flux-system/helmrelease.helm.toolkit.fluxcd.io_kyverno.yaml",
    );
    assert!(release.contains("  timeout: 10m\n"), "{release}");
    // fleetc's own install field and the setting's merge.
    assert!(
        release.contains(
            "  install:\n    createNamespace: true\n    remediation:\n      retries: 3\n"
        ),
        "{release}"
    );
    let component = repo.join("components/kyverno/component.yaml");
    let c = std::fs::read_to_string(&component).expect("read");
    std::fs::write(
        &component,
        c.replacen("      timeout: 10m", "      timout: 10m", 1),
    )
    .expect("write");
    for format in ["flux", "argocd"] {
        let o = fleetc(&["validate", "--format", format], &repo);
        let err = text(&o.stderr);
        assert_eq!(code(&o), 2, "{format}: {err}");
        assert!(
            err.contains("error[unknown-field]: unknown field `timout`"),
            "{format}: {err}"
        );
        assert!(
            err.contains("components/kyverno/component.yaml:"),
            "{format}: {err}"
        );
        assert!(err.contains("did you mean `timeout`?"), "{format}: {err}");
    }
}

/// Fields fleetc sets, or that would change objects after they were
/// checked, are refused with the reason; a HelmRelease setting on a
/// component without a chart is refused; values of the wrong type are
/// named as the user wrote them. Every problem at once, nothing written.
#[test]
fn settings_fleetc_cannot_apply_are_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let repo = new_fleet(tmp.path());
    append(
        &repo,
        "placements/hello.yaml",
        "      agent:\n        kustomization: {targetNamespace: other, timout: 1m}\n        helmRelease: {timeout: 5m}\n        application:\n          project: other\n          syncPolicy: {retry: {limit: three}}\n",
    );
    let out = tmp.path().join("out");
    for format in ["flux", "argocd"] {
        let o = render_as(&repo, &out, format);
        let err = text(&o.stderr);
        assert_eq!(code(&o), 2, "{err}");
        assert!(!out.exists(), "nothing is written");
        for want in [
            "error[agent-setting]: `agent.kustomization.targetNamespace` is not a setting: it would change the objects after fleetc rendered and checked them",
            "error[agent-setting]: `agent.application.project` is not a setting: it is the Fleet's `output.argocdProject`",
            "error[agent-setting]: `agent.helmRelease` is set for `hello`, which is not a Helm component",
            "error[unknown-field]: unknown field `timout` in the Flux Kustomization of `hello`",
            "error[invalid-type]: `agent.application.syncPolicy.retry.limit` must be an integer or null, found string",
            "placements/hello.yaml:16:",
        ] {
            assert!(err.contains(want), "{format}: lacks {want:?}:\n{err}");
        }
    }
}
