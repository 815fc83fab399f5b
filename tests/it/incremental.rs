//! `render -o OUT` over a tree it wrote before keeps the clusters whose
//! digest is unchanged and replaces the rest: after every kind of edit, and
//! after a run killed at any moment, the tree equals a cold render byte for
//! byte.
use std::path::Path;
use std::process::Command;

use crate::common::*;

/// Render `repo` into `out` (which may hold an earlier tree); returns stdout.
fn render_into(repo: &Path, out: &Path, format: &str) -> String {
    let o = render_as(repo, out, format);
    assert_eq!(code(&o), 0, "render failed:\n{}", text(&o.stderr));
    text(&o.stdout)
}

/// `out` equals a cold render of `repo` into a fresh directory.
fn assert_cold(repo: &Path, out: &Path, format: &str, after: &str) {
    let cold = out.with_file_name(format!("cold-{format}"));
    let _ = std::fs::remove_dir_all(&cold);
    render_into(repo, &cold, format);
    let (got, want) = (read_tree(out), read_tree(&cold));
    let differ: Vec<&String> = got
        .keys()
        .chain(want.keys())
        .filter(|p| got.get(*p) != want.get(*p))
        .collect();
    assert!(
        differ.is_empty(),
        "{format}: after {after}, the updated tree differs from a cold render at {differ:?}"
    );
    std::fs::remove_dir_all(&cold).expect("rm cold");
}

fn edit(repo: &Path, rel: &str, f: impl FnOnce(String) -> String) {
    let p = repo.join(rel);
    let t = std::fs::read_to_string(&p).expect("read");
    std::fs::write(&p, f(t)).expect("write");
}

#[test]
fn an_updated_tree_equals_a_cold_render_after_every_kind_of_edit() {
    for format in ["flux", "argocd"] {
        let tmp = tempfile::tempdir().expect("tmp");
        let repo = tmp.path().join("fleet");
        copy_dir(&root().join("examples/fleet-repo"), &repo);
        let out = tmp.path().join("out");
        render_into(&repo, &out, format);

        // A value of one group: only its clusters are rendered again.
        edit(&repo, "groups/development.yaml", |t| {
            t.replace("logLevel: debug", "logLevel: trace")
        });
        let said = render_into(&repo, &out, format);
        assert!(
            said.starts_with("rendered 3 clusters") && said.contains("; 10 clusters unchanged"),
            "{format}: {said}"
        );
        assert_cold(&repo, &out, format, "a group value changed");

        // A cluster added, then one removed.
        let added = std::fs::read_to_string(repo.join("clusters/dev-eu-west.yaml"))
            .expect("read")
            .replace("name: dev-eu-west", "name: dev-eu-north");
        std::fs::write(repo.join("clusters/dev-eu-north.yaml"), added).expect("write");
        render_into(&repo, &out, format);
        assert_cold(&repo, &out, format, "a cluster was added");
        std::fs::remove_file(repo.join("clusters/prod-us-east-2.yaml")).expect("rm");
        render_into(&repo, &out, format);
        assert!(!out.join("clusters/prod-us-east-2").exists());
        assert_cold(&repo, &out, format, "a cluster was removed");

        // A component and its placement removed.
        std::fs::remove_dir_all(repo.join("components/synthetic-probe")).expect("rm");
        std::fs::remove_file(repo.join("placements/synthetic-probe.yaml")).expect("rm");
        render_into(&repo, &out, format);
        assert_cold(&repo, &out, format, "a component was removed");

        // A patch renames an object, so its file is renamed.
        edit(&repo, "placements/payments-api.yaml", |t| {
            format!(
                "{t}\n  patches:\n    - target: {{kind: PodDisruptionBudget, name: payments-api}}\n      jsonPatch:\n        - {{op: replace, path: /metadata/name, value: payments-api-budget}}\n"
            )
        });
        render_into(&repo, &out, format);
        assert_cold(&repo, &out, format, "a patch renamed an object");

        // Nothing changed: nothing is rendered.
        let said = render_into(&repo, &out, format);
        assert!(said.contains("is up to date"), "{format}: {said}");
    }
}

/// A fleet of two clusters where component `web` renders a ConfigMap whose
/// name each cluster chooses, and web's placement patches the one named
/// `special`.
fn special_fleet(dir: &Path, c2_name: &str) {
    let w = |rel: &str, text: &str| {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().expect("dir")).expect("mkdir");
        std::fs::write(p, text).expect("write");
    };
    w(
        "fleet.yaml",
        "apiVersion: fleetc.dev/v1alpha1\nkind: Fleet\nmetadata: {name: shop}\nspec:\n  output: {format: plain}\n",
    );
    for (name, cm) in [("c1", "plain"), ("c2", c2_name)] {
        w(
            &format!("clusters/{name}.yaml"),
            &format!("apiVersion: fleetc.dev/v1alpha1\nkind: Cluster\nmetadata:\n  name: {name}\nspec:\n  owner: shop\n  kubernetesVersion: \"1.31.0\"\n  values:\n    web: {{name: {cm}}}\n"),
        );
    }
    w(
        "components/web/component.yaml",
        "apiVersion: fleetc.dev/v1alpha1\nkind: Component\nmetadata: {name: web}\nspec:\n  namespace: shop\n  version: 1.0.0\n",
    );
    w(
        "components/web/templates/cm.yaml.j2",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ values.name }}\n  namespace: shop\ndata: {a: b}\n",
    );
    w(
        "placements/web.yaml",
        "apiVersion: fleetc.dev/v1alpha1\nkind: Placement\nmetadata: {name: web}\nspec:\n  component: web\n  target: {all: true}\n  patches:\n    - target: {kind: ConfigMap, name: special}\n      patch: {data: {patched: \"yes\"}}\n",
    );
}

/// The check that every patch matches something is made over every
/// cluster, though kept clusters are not rendered: a patch matched only on
/// a kept cluster still counts (found by rendering that one in memory), and
/// one that no longer matches anywhere is still an error.
#[test]
fn unmatched_patches_are_decided_over_kept_clusters_too() {
    let tmp = tempfile::tempdir().expect("tmp");
    let repo = tmp.path().join("fleet");
    special_fleet(&repo, "special");
    let out = tmp.path().join("out");
    render_into(&repo, &out, "plain");
    // c1 changes; the patch matched only on c2, which is kept.
    edit(&repo, "clusters/c1.yaml", |t| format!("{t}# touched\n"));
    let said = render_into(&repo, &out, "plain");
    assert!(
        said.starts_with("rendered 1 cluster,") && said.contains("1 cluster unchanged"),
        "{said}"
    );
    assert_cold(&repo, &out, "plain", "c1 touched");
    // c2 no longer has the object; c1, kept, never had it.
    special_fleet(&repo, "ordinary");
    edit(&repo, "clusters/c1.yaml", |t| format!("{t}# touched\n"));
    let before = read_tree(&out);
    let o = render_as(&repo, &out, "plain");
    assert_eq!(code(&o), 2, "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("matches no resource"),
        "{}",
        text(&o.stderr)
    );
    assert_eq!(read_tree(&out), before, "a failed update wrote something");
}

/// A run killed at any moment leaves a tree the next run turns into the
/// right one; so does the state a kill between two swaps leaves (journal
/// written, a cluster's directory gone, a staging directory beside).
#[test]
fn a_killed_update_is_finished_by_the_next_run() {
    let tmp = tempfile::tempdir().expect("tmp");
    let repo = tmp.path().join("fleet");
    copy_dir(&root().join("examples/fleet-repo"), &repo);
    let out = tmp.path().join("out");
    render_into(&repo, &out, "flux");
    // Kills spread over how long an update takes here (a sample point,
    // not an assertion on time).
    edit(&repo, "groups/development.yaml", |t| {
        t.replace("logLevel: debug", "logLevel: info")
    });
    let started = std::time::Instant::now();
    render_into(&repo, &out, "flux");
    let took = started.elapsed().as_millis() as u64;
    let bin = env!("CARGO_BIN_EXE_fleetc");
    let delays = (0..12).map(|k| took * k / 10);
    for (i, delay_ms) in delays.enumerate() {
        let level = if i % 2 == 0 { "trace" } else { "debug" };
        edit(&repo, "groups/development.yaml", |t| {
            ["debug", "trace", "info"].iter().fold(t, |t, l| {
                t.replace(&format!("logLevel: {l}\n"), &format!("logLevel: {level}\n"))
            })
        });
        let mut child = Command::new(bin)
            .args(["render", "-o"])
            .arg(&out)
            .current_dir(&repo)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn");
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
        render_into(&repo, &out, "flux");
        assert_cold(
            &repo,
            &out,
            "flux",
            &format!("a run killed after {delay_ms} ms"),
        );
    }

    // What a kill between two swaps leaves, made by hand.
    edit(&repo, "groups/development.yaml", |t| {
        t.replace("logLevel: ", "logLevel: x")
    });
    std::fs::write(out.join(".fleetc-journal"), "dev-eu-west\nprod-us-east-1\n").expect("journal");
    std::fs::remove_dir_all(out.join("clusters/dev-eu-west")).expect("rm");
    std::fs::write(out.join("clusters/prod-us-east-1/stray.yaml"), "x: 1\n").expect("stray");
    let staging = tmp.path().join(".out.fleetc-staging-1");
    std::fs::create_dir(&staging).expect("staging");
    std::fs::write(staging.join(".fleetc-output"), "x").expect("marker");
    // Even with inputs as recorded, an unfinished update is not up to date.
    edit(&repo, "groups/development.yaml", |t| {
        t.replace("logLevel: x", "logLevel: ")
    });
    let said = render_into(&repo, &out, "flux");
    assert!(!said.contains("up to date"), "{said}");
    assert_cold(&repo, &out, "flux", "a kill between two swaps");
    assert!(
        !staging.exists(),
        "the killed run's staging directory stays"
    );
    assert!(!out.join(".fleetc-journal").exists());
}

/// `render --check` compares only the clusters whose digest changed when
/// nothing under the tree is newer than fleetc's last write there; a hand
/// edit or a deleted file anywhere makes it compare every byte again.
#[test]
fn check_trusts_the_inventory_only_while_the_tree_is_untouched() {
    let tmp = tempfile::tempdir().expect("tmp");
    let repo = tmp.path().join("fleet");
    copy_dir(&root().join("examples/fleet-repo"), &repo);
    let out = tmp.path().join("out");
    render_into(&repo, &out, "flux");
    let check = || {
        fleetc(
            &["render", "-o", out.to_str().expect("utf-8"), "--check"],
            &repo,
        )
    };
    let o = check();
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    assert!(
        text(&o.stdout).contains("13 clusters with unchanged inputs trusted"),
        "{}",
        text(&o.stdout)
    );

    // An input change: only the three development clusters are compared.
    edit(&repo, "groups/development.yaml", |t| {
        t.replace("logLevel: debug", "logLevel: trace")
    });
    let o = check();
    assert_eq!(code(&o), 1, "{}", text(&o.stderr));
    let listed = text(&o.stdout);
    for line in listed.lines() {
        assert!(
            line.contains("/clusters/dev-") || line.ends_with("/inventory.json"),
            "a path of a cluster whose inputs did not change was compared: {line}"
        );
    }
    render_into(&repo, &out, "flux");
    assert_eq!(code(&check()), 0);

    // A hand edit in a cluster whose inputs did not change.
    std::thread::sleep(std::time::Duration::from_millis(50));
    let edited = out.join("clusters/prod-us-east-1/kustomization.yaml");
    let mut t = std::fs::read_to_string(&edited).expect("read");
    t.push_str("# edited\n");
    std::fs::write(&edited, t).expect("write");
    let o = check();
    assert_eq!(code(&o), 1, "{}", text(&o.stdout));
    assert!(
        text(&o.stdout).contains("changed")
            && text(&o.stdout).contains("prod-us-east-1/kustomization.yaml"),
        "{}",
        text(&o.stdout)
    );

    // A deleted file, after a fresh render.
    let _ = std::fs::remove_dir_all(&out);
    render_into(&repo, &out, "flux");
    std::thread::sleep(std::time::Duration::from_millis(50));
    std::fs::remove_file(out.join("bootstrap/prod-us-east-1.yaml")).expect("rm");
    let o = check();
    assert_eq!(code(&o), 1, "{}", text(&o.stdout));
    assert!(
        text(&o.stdout).contains("missing")
            && text(&o.stdout).contains("bootstrap/prod-us-east-1.yaml"),
        "{}",
        text(&o.stdout)
    );
}
