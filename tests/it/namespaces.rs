//! Namespaces that exist (issue 17): a component's `namespace` is created
//! where it lands unless something else makes it; `kubectl kustomize`
//! orders it first; a namespaced object in a namespace nothing creates is
//! `namespace-missing` (tests/it/cases/namespace-*).
use std::path::Path;

use crate::common::*;

fn base(tmp: &Path) -> std::path::PathBuf {
    let repo = tmp.join("repo");
    copy_dir(&root().join("tests/it/cases/_base"), &repo);
    repo
}

fn write(repo: &Path, path: &str, text: &str) {
    let p = repo.join(path);
    std::fs::create_dir_all(p.parent().expect("dir")).expect("mkdir");
    std::fs::write(p, text).expect("write");
}

const COMPONENT: &str = "apiVersion: fleetc.dev/v1alpha1\nkind: Component\nmetadata:\n  name: web\nspec:\n  namespace: web\n  version: 1.0.0\n  values: {replicas: 1, port: 8080}\n";

#[test]
fn a_components_namespace_is_created_first_with_its_metadata() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let repo = base(tmp.path());
    write(
        &repo,
        "components/web/component.yaml",
        &format!("{COMPONENT}  namespaceMetadata:\n    labels:\n      pod-security.kubernetes.io/enforce: restricted\n    annotations:\n      owner: team-web\n"),
    );
    let out = render(&repo, tmp.path(), &[]);
    let ns = std::fs::read_to_string(out.join("clusters/a/components/web/namespace_web.yaml"))
        .expect("the Namespace is in the component's tree");
    assert!(
        ns.contains("pod-security.kubernetes.io/enforce: restricted"),
        "{ns}"
    );
    assert!(
        ns.contains("owner: team-web") && ns.contains("fleetc.dev/cluster: a"),
        "{ns}"
    );
    // kustomize applies it before the Deployment that lives in it.
    let o = std::process::Command::new("kubectl")
        .args(["kustomize", &out.join("clusters/a").to_string_lossy()])
        .output()
        .expect("kubectl kustomize");
    assert!(o.status.success(), "{}", text(&o.stderr));
    let kinds: Vec<String> = text(&o.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("kind: ").map(String::from))
        .collect();
    assert_eq!(kinds, ["Namespace", "Deployment"]);
}

#[test]
fn no_namespace_is_created_twice_or_over_an_existing_one() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let repo = base(tmp.path());
    // Another unit renders `web` itself: fleetc adds none.
    write(
        &repo,
        "components/web/templates/ns.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: web\n  labels: {team: web}\n",
    );
    let out = render(&repo, tmp.path(), &[]);
    let ns = std::fs::read_to_string(out.join("clusters/a/components/web/namespace_web.yaml"))
        .expect("namespace");
    assert!(
        ns.contains("team: web"),
        "the template's own Namespace: {ns}"
    );
    // Opted out, and declared as existing on every cluster: valid, no Namespace.
    let tmp2 = tempfile::tempdir().expect("tempdir");
    let repo = base(tmp2.path());
    write(
        &repo,
        "components/web/component.yaml",
        &COMPONENT.replace(
            "namespace: web\n",
            "namespace: web\n  createNamespace: false\n",
        ),
    );
    let fleet = std::fs::read_to_string(repo.join("fleet.yaml")).expect("fleet");
    write(
        &repo,
        "fleet.yaml",
        &format!("{fleet}  existingNamespaces: [web]\n"),
    );
    let out = render(&repo, tmp2.path(), &[]);
    assert!(!out
        .join("clusters/a/components/web/namespace_web.yaml")
        .exists());
    // Declared on one cluster only: the others fail, named.
    std::fs::write(repo.join("fleet.yaml"), &fleet).expect("write");
    let a = std::fs::read_to_string(repo.join("clusters/a.yaml")).expect("cluster");
    write(
        &repo,
        "clusters/a.yaml",
        &format!("{a}  existingNamespaces: [web]\n"),
    );
    let o = fleetc(&["--color", "never", "validate", "."], &repo);
    let err = text(&o.stderr);
    assert_eq!(code(&o), 2, "{err}");
    assert!(
        err.contains("error[namespace-missing]") && err.contains("on 2 clusters: b, c"),
        "{err}"
    );
}
