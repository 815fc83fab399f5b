//! Patches kept in files, and `$patch: delete`, against kustomize: the same
//! patch files in a kustomize overlay (`patches: [{path: ...}]`) must give,
//! by `kubectl kustomize`, the objects fleetc renders for the clusters of
//! the target that names them (fleetc's own labels and annotation aside).
//! A target's `version` reaches the rendered unit and its templates.
use std::path::Path;
use std::process::Command;

use crate::common::*;

const BASE: &str = "apiVersion: v1
kind: Namespace
metadata:
  name: shop
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: shop
data:
  mode: normal
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: shop
spec:
  selector: {app: web}
  ports:
    - {name: http, port: 80, targetPort: 8080}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
spec:
  replicas: 1
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
        - name: web
          image: registry.example.com/web:1.0
          env:
            - {name: MODE, value: normal}
        - name: proxy
          image: registry.example.com/proxy:2.1
";

/// Patch files, as a kustomize overlay would keep them.
const PATCHES: &[(&str, &str)] = &[
    (
        "web.yaml",
        "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
spec:
  replicas: 3
  template:
    spec:
      containers:
        - name: web
          env:
            - {name: MODE, value: production}
        - name: proxy
          $patch: delete
",
    ),
    (
        "gone.yaml",
        "apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: shop
$patch: delete
",
    ),
    (
        "ops.yaml",
        "- op: replace
  path: /spec/ports/0/port
  value: 8080
- op: add
  path: /spec/sessionAffinity
  value: ClientIP
",
    ),
];

fn fleet(dir: &Path) {
    let w = |rel: &str, text: &str| {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().expect("dir")).expect("mkdir");
        std::fs::write(p, text).expect("write");
    };
    w(
        "fleet.yaml",
        "apiVersion: fleetc.dev/v1alpha1\nkind: Fleet\nmetadata: {name: shop}\nspec:\n  output: {format: plain}\n",
    );
    for (name, env) in [("dev-1", "dev"), ("prod-1", "prod")] {
        w(
            &format!("clusters/{name}.yaml"),
            &format!("apiVersion: fleetc.dev/v1alpha1\nkind: Cluster\nmetadata:\n  name: {name}\n  labels: {{env: {env}}}\nspec:\n  owner: shop\n  kubernetesVersion: \"1.31.0\"\n"),
        );
    }
    w(
        "components/web/component.yaml",
        "apiVersion: fleetc.dev/v1alpha1\nkind: Component\nmetadata: {name: web}\nspec:\n  namespace: shop\n  version: 1.0.0\n",
    );
    w("components/web/templates/web.yaml", BASE);
    w(
        "components/web/templates/version.yaml.j2",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: version\n  namespace: shop\ndata:\n  version: {{ component.version | quote }}\n",
    );
    for (name, text) in PATCHES {
        w(&format!("patches/prod/{name}"), text);
    }
    w(
        "placements/web.yaml",
        "apiVersion: fleetc.dev/v1alpha1
kind: Placement
metadata: {name: web}
spec:
  component: web
  target: {all: true}
  targets:
    - name: prod
      target: {clusterSelector: {matchLabels: {env: prod}}}
      version: 1.1.0
      patches:
        - path: ../patches/prod/web.yaml
        - path: ../patches/prod/gone.yaml
        - path: ../patches/prod/ops.yaml
          target: {kind: Service, name: web}
",
    );
}

fn kustomize(dir: &Path) -> String {
    let o = Command::new(crate::kustomize::kubectl())
        .arg("kustomize")
        .arg(dir)
        .output()
        .expect("kubectl");
    assert!(o.status.success(), "{}", text(&o.stderr));
    text(&o.stdout)
}

#[test]
fn file_patches_and_deletes_render_as_kustomize_builds_them() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let repo = tmp.path().join("fleet");
    fleet(&repo);
    let out = tmp.path().join("out");
    let o = fleetc(&["render", "-o", out.to_str().expect("utf-8")], &repo);
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    // The same base and patch files, as a kustomize overlay.
    let k = tmp.path().join("kustomize");
    std::fs::create_dir_all(k.join("base")).expect("mkdir");
    std::fs::create_dir_all(k.join("prod")).expect("mkdir");
    std::fs::write(k.join("base/web.yaml"), BASE).expect("write");
    std::fs::write(k.join("base/kustomization.yaml"), "resources: [web.yaml]\n").expect("write");
    for (name, text) in PATCHES {
        std::fs::write(k.join("prod").join(name), text).expect("write");
    }
    std::fs::write(
        k.join("prod/kustomization.yaml"),
        "resources: [../base]\npatches:\n  - path: web.yaml\n  - path: gone.yaml\n  - path: ops.yaml\n    target: {kind: Service, name: web}\n",
    )
    .expect("write");
    for (cluster, overlay) in [("prod-1", "prod"), ("dev-1", "base")] {
        let ours = kustomize(&out.join("clusters").join(cluster));
        let theirs = kustomize(&k.join(overlay));
        let mut ours = objects_without_fleetc_marks(cluster, &ours);
        // The template that shows the version is fleetc's only.
        let version = ours
            .iter()
            .position(|o| o.contains("\"name\":\"version\""))
            .expect("the version ConfigMap");
        let v = ours.remove(version);
        let want = if cluster == "prod-1" {
            "1.1.0"
        } else {
            "1.0.0"
        };
        assert!(
            v.contains(&format!("\"version\":\"{want}\"")),
            "{cluster}: {v}"
        );
        assert_eq!(
            ours,
            objects_without_fleetc_marks(overlay, &theirs),
            "{cluster}"
        );
    }
    // `explain` lists each patch with its file and line, and the deletes.
    let o = fleetc(&["explain", "prod-1", "--component", "web"], &repo);
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    let said = text(&o.stdout);
    for line in [
        "version 1.1.0",
        "    patches Deployment shop/web (patches/prod/web.yaml:1:1, from customization prod)",
        "    deletes ConfigMap shop/settings (patches/prod/gone.yaml:1:1, from customization prod)",
        "    patches Service web (patches/prod/ops.yaml:1:1, from customization prod)",
        // Rendered: what each patch matched on this cluster, and what it deleted.
        "patches (what each one matched on this cluster, in order):\n  patches/prod/web.yaml:1:1  Deployment shop/web\n  patches/prod/gone.yaml:1:1  deleted ConfigMap shop/settings\n  patches/prod/ops.yaml:1:1  Service shop/web\n",
    ] {
        assert!(said.contains(line), "{line}\n{said}");
    }
    // On a cluster without the customization, the component has no patches.
    let o = fleetc(&["explain", "dev-1", "--component", "web"], &repo);
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    let said = text(&o.stdout);
    assert!(
        said.contains("admission (") && !said.contains("patches (what each"),
        "{said}"
    );
}

#[test]
fn patch_files_that_cannot_apply_are_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let repo = tmp.path().join("fleet");
    fleet(&repo);
    let placement = repo.join("placements/web.yaml");
    let text0 = std::fs::read_to_string(&placement).expect("read");
    for (edit, file, says) in [
        (
            "../patches/prod/web.yaml",
            "../patches/prod/missing.yaml",
            "no file `patches/prod/missing.yaml`",
        ),
        (
            "../patches/prod/web.yaml",
            "../components/web/templates/web.yaml",
            "must lead into patches/",
        ),
        (
            "          target: {kind: Service, name: web}\n",
            "",
            "this entry has none",
        ),
    ] {
        let changed = text0.replacen(edit, file, 1);
        assert_ne!(changed, text0);
        std::fs::write(&placement, &changed).expect("write");
        let o = fleetc(&["validate"], &repo);
        assert_eq!(code(&o), 2, "{edit}");
        let err = text(&o.stderr);
        assert!(
            err.contains("error[patch-file]") && err.contains(says),
            "{says}: {err}"
        );
    }
    std::fs::write(&placement, &text0).expect("write");
    std::fs::write(repo.join("patches/prod/web.yaml"), "spec:\n  replicas: 2\n").expect("write");
    let o = fleetc(&["validate"], &repo);
    assert!(
        text(&o.stderr).contains("names no object"),
        "{}",
        text(&o.stderr)
    );
}

/// A patch file is an input of the clusters whose placement reads it: a
/// change to it shows in `diff` (which renders only the clusters whose
/// inputs changed) for those clusters and no other.
#[test]
fn a_changed_patch_file_changes_its_clusters_in_diff() {
    use crate::git::git;
    let tmp = tempfile::tempdir().expect("tempdir");
    let repo = tmp.path().join("fleet");
    fleet(&repo);
    git(&repo, &["init", "-q", "-b", "main"]);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "base"]);
    let file = repo.join("patches/prod/web.yaml");
    let text0 = std::fs::read_to_string(&file).expect("read");
    std::fs::write(&file, text0.replace("replicas: 3", "replicas: 4")).expect("write");
    git(&repo, &["commit", "-q", "-am", "four replicas"]);
    let o = fleetc(&["diff", "--base", "HEAD~1", "--format", "json"], &repo);
    assert_eq!(code(&o), 1, "{}", text(&o.stderr));
    let d: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(d["summary"]["clusters"]["changed"], 1, "{d}");
    let changes = d["changes"].as_array().expect("changes");
    assert_eq!(changes.len(), 1, "{d}");
    assert_eq!(changes[0]["clusters"], serde_json::json!(["prod-1"]), "{d}");
    assert_eq!(changes[0]["object"]["kind"], "Deployment", "{d}");
}
