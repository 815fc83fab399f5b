//! `fleetc import kustomize`: the test of truth is `kubectl kustomize`.
//! For each layout under tests/import-layouts/ (written for these tests,
//! in the shapes of kustomize's own hello-world example, a Flux monorepo
//! and Rancher Fleet's multi-cluster kustomize example), the imported
//! fleet renders, for every overlay's cluster, exactly the objects
//! `kubectl kustomize OVERLAY` builds (fleetc's own labels and source
//! annotation aside). Inputs it cannot convert faithfully are refused at
//! their line, with nothing written.

use std::path::Path;
use std::process::Command;

use crate::common::*;
use crate::kustomize::kubectl;

/// Import `overlays` (run in `layout`), render the fleet as plain
/// manifests, and compare every cluster with `kubectl kustomize`.
fn import_and_compare(
    layout: &str,
    overlays: &[(&str, &str)],
    extra: &[&str],
) -> (tempfile::TempDir, std::path::PathBuf) {
    let k = kubectl();
    let dir = tempfile::tempdir().expect("tempdir");
    let tmp = dir.path();
    let src = tmp.join("layout");
    copy_dir(&root().join("tests/import-layouts").join(layout), &src);
    let mut args = vec!["import", "kustomize"];
    let named: Vec<String> = overlays.iter().map(|(n, d)| format!("{n}={d}")).collect();
    args.extend(named.iter().map(String::as_str));
    args.extend(["-o", "../fleet"]);
    args.extend(extra);
    let o = fleetc(&args, &src);
    assert_eq!(code(&o), 0, "{layout}: {}", text(&o.stderr));
    assert!(
        text(&o.stdout).contains("the new fleet validates"),
        "{}",
        text(&o.stdout)
    );
    let fleet = tmp.join("fleet");
    let out = tmp.join("rendered");
    let o = render_as(&fleet, &out, "plain");
    assert_eq!(code(&o), 0, "{layout}: {}", text(&o.stderr));
    for (name, dir) in overlays {
        let built = Command::new(&k)
            .arg("kustomize")
            .arg(src.join(dir))
            .output()
            .expect("kubectl");
        assert!(built.status.success(), "{}", text(&built.stderr));
        let mut want = objects_without_fleetc_marks("kustomize", &text(&built.stdout));
        let mut got = Vec::new();
        for (p, bytes) in read_tree(&out.join("clusters").join(name)) {
            if !p.ends_with("kustomization.yaml") {
                got.extend(objects_without_fleetc_marks(&p, &text(&bytes)));
            }
        }
        want.sort();
        got.sort();
        assert_eq!(
            want, got,
            "{layout}: cluster {name} differs from kubectl kustomize {dir}"
        );
        assert!(!want.is_empty());
    }
    (dir, fleet)
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn hello_world_overlays_import_to_the_same_objects() {
    let (_tmp, fleet) = import_and_compare(
        "hello",
        &[
            ("staging", "overlays/staging"),
            ("production", "overlays/production"),
        ],
        &[],
    );
    // Resources and patch files are kept byte for byte.
    let layout = root().join("tests/import-layouts/hello");
    assert_eq!(
        read(&fleet.join("components/base/templates/deployment.yaml")),
        read(&layout.join("base/deployment.yaml"))
    );
    assert_eq!(
        read(&fleet.join("patches/base/production/deployment.yaml")),
        read(&layout.join("overlays/production/deployment.yaml"))
    );
    // Generated objects carry kustomize's hash, and references follow it.
    assert!(fleet
        .join("components/base/templates/configmap-hello-settings.yaml")
        .is_file());
    let cm = read(&fleet.join("components/base/templates/configmap-hello-settings.yaml"));
    assert!(cm.contains("name: hello-settings-"), "{cm}");
    let c = read(&fleet.join("components/production-resources/component.yaml"));
    assert!(
        c.contains("allowPlaintextSecrets: true"),
        "a generated Secret: {c}"
    );
    // The resource only production lists is a component of its own, placed there.
    let p = read(&fleet.join("placements/production-resources.yaml"));
    assert!(p.contains("clusters: [\"production\"]"), "{p}");
    // The base's generated name goes into its references first, on every
    // cluster: the placement's own patch.
    let p = read(&fleet.join("placements/base.yaml"));
    assert!(
        p.contains("  patches:\n    - path: ../patches/base/all/references-deployment-the-deployment.yaml\n"),
        "{p}"
    );
    // production's prefix: its objects renamed, the HPA's target following.
    let hpa = read(&fleet.join(
        "patches/production-resources/all/names-horizontalpodautoscaler-the-deployment.yaml",
    ));
    assert!(hpa.contains("value: prod-the-deployment"), "{hpa}");
}

#[test]
fn a_flux_monorepo_imports_to_the_same_objects_and_renders_for_flux() {
    let (_tmp, fleet) = import_and_compare(
        "flux-apps",
        &[
            ("staging", "apps/staging"),
            ("production", "apps/production"),
        ],
        &["--repository", "https://git.example.com/platform/fleet.git"],
    );
    let c = read(&fleet.join("components/podinfo/component.yaml"));
    assert!(c.contains("namespace: \"podinfo\""), "{c}");
    assert!(
        !c.contains("createNamespace"),
        "the base renders its namespace: {c}"
    );
    let cluster = read(&fleet.join("clusters/staging.yaml"));
    assert!(
        cluster.contains("existingKinds: [\"HelmRelease.helm.toolkit.fluxcd.io\", \"HelmRepository.source.toolkit.fluxcd.io\"]"),
        "{cluster}"
    );
    let o = fleetc(&["validate"], &fleet);
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    let out = fleet.join("../flux");
    let o = render_as(&fleet, &out, "flux");
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
}

#[test]
fn shared_changes_go_to_one_entry_and_order_is_kept() {
    let (_tmp, fleet) = import_and_compare(
        "multi-cluster",
        &[
            ("dev", "overlays/dev"),
            ("test", "overlays/test"),
            ("prod", "overlays/prod"),
        ],
        &[],
    );
    let p = read(&fleet.join("placements/base.yaml"));
    // The kustomize component's patch comes first on test and prod (a
    // target for the group of both), then the change every overlay makes
    // (a target for all of them, since it is not first everywhere), then
    // the spread that test and prod share: each cluster sees its changes
    // in kustomize's order.
    assert!(
        p.contains(concat!(
            "  targets:\n",
            "    - name: \"test-prod\"\n      target: {groups: [\"test-prod\"]}\n      patches:\n",
            "        - path: ../patches/base/test-prod/non-root.yaml\n",
            "          target: {group: \"apps\", kind: \"Deployment\"}\n",
            "    - name: \"every-cluster\"\n      target: {all: true}\n      patches:\n",
            "        - path: ../patches/base/every-cluster/team-annotation.yaml\n",
            "    - name: \"test-prod-2\"\n      target: {groups: [\"test-prod\"]}\n      patches:\n",
            "        - path: ../patches/base/test-prod-2/ha.yaml\n",
        )),
        "{p}"
    );
    let g = read(&fleet.join("groups/test-prod.yaml"));
    assert!(g.contains("  clusters: [\"test\", \"prod\"]\n"), "{g}");
    // A kustomize component's resources: a component of the fleet, placed
    // on the overlays that include it; its patch applies there.
    let p = read(&fleet.join("placements/pod-security.yaml"));
    assert!(p.contains("clusters: [\"test\", \"prod\"]"), "{p}");
    assert!(read(&fleet.join("placements/base.yaml")).contains("non-root.yaml"));
    // dev's prefix renames its objects and the references to them (the
    // HPA's target here).
    let hpa = read(&fleet.join("patches/base/dev/names-horizontalpodautoscaler-frontend.yaml"));
    assert!(
        hpa.contains("path: /spec/scaleTargetRef/name\n  value: dev-frontend"),
        "{hpa}"
    );
    // Nested kustomizations of the base keep their directories.
    assert!(fleet
        .join("components/base/templates/redis/redis-slave.yaml")
        .is_file());
}

/// `fleetc import kustomize OVERLAYS -o ../fleet` in `src`, which must
/// refuse (exit 2): its stderr.
fn refused(src: &Path, overlays: &[&str]) -> String {
    let mut args = vec!["import", "kustomize"];
    args.extend(overlays);
    args.extend(["-o", "../fleet"]);
    let o = fleetc(&args, src);
    let err = text(&o.stderr);
    assert_eq!(code(&o), 2, "{err}");
    err
}

/// What kustomize would do but fleetc cannot express faithfully is
/// refused: every instance at its line, exit 2, nothing written.
#[test]
fn what_cannot_be_converted_is_refused_at_its_line() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let src = tmp.path().join("layout");
    copy_dir(&root().join("tests/import-layouts/hello"), &src);
    let k = src.join("overlays/production/kustomization.yaml");
    let text_k = read(&k);
    let n = text_k.lines().count();
    std::fs::write(
        &k,
        format!("{text_k}replacements: []\nhelmCharts: [{{name: podinfo}}]\n"),
    )
    .expect("write");
    let err = refused(&src, &["overlays/staging", "overlays/production"]);
    for want in [
        "error[import-unsupported]: `replacements` in an overlay cannot be imported".to_string(),
        format!("--> overlays/production/kustomization.yaml:{}:1", n + 1),
        "error[import-unsupported]: `helmCharts` in an overlay cannot be imported".to_string(),
        format!("--> overlays/production/kustomization.yaml:{}:1", n + 2),
    ] {
        assert!(err.contains(&want), "lacks {want:?}:\n{err}");
    }
    assert!(!tmp.path().join("fleet").exists(), "nothing is written");

    // A patch that names a generated object would need kustomize's
    // rewrite to its hashed name: refused, not silently left unhashed.
    let patch = src.join("overlays/production/deployment.yaml");
    let p = read(&patch);
    std::fs::write(&k, &text_k).expect("write");
    std::fs::write(
        &patch,
        p.replace(
            "          resources:",
            "          envFrom:\n            - configMapRef: {name: db}\n          resources:",
        ),
    )
    .expect("write");
    let err = refused(&src, &["overlays/production"]);
    assert!(err.contains("names the generated ConfigMap `db`"), "{err}");
    std::fs::write(&patch, p).expect("write");

    // A patch kustomize itself could not load is refused too.
    std::fs::write(
        &k,
        text_k.replace("path: deployment.yaml", "path: ../staging/map.yaml"),
    )
    .expect("write");
    let err = refused(&src, &["overlays/production"]);
    assert!(
        err.contains(
            "patch file overlays/staging/map.yaml is outside the overlay overlays/production"
        ),
        "{err}"
    );

    // A non-empty target directory is never written into.
    std::fs::create_dir_all(tmp.path().join("taken")).expect("mkdir");
    std::fs::write(tmp.path().join("taken/keep.txt"), "mine").expect("write");
    let o = fleetc(
        &["import", "kustomize", "overlays/staging", "-o", "../taken"],
        &src,
    );
    assert_eq!(code(&o), 2, "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("is not empty"),
        "{}",
        text(&o.stderr)
    );
}
