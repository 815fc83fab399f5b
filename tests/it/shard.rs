//! `--shard K/N` and `--from`: a fleet rendered in shards on separate
//! machines and merged gives the tree, and the commit, one machine gives,
//! byte for byte, for several fleet sizes and shard counts; what spans the
//! fleet (inventory.json, "this patch matches nothing") is decided once, by
//! the merge; shards that do not make one fleet are refused.
use std::path::Path;

use fleetc::driver::shard::Shard;

use crate::common::*;
use crate::git::git;

/// A fleet of `n` clusters in two groups, two components, a patch for the
/// prod group and one for a single cluster (`c0000`).
fn fleet(dir: &Path, n: usize, format: &str) {
    let w = |rel: &str, text: &str| {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().expect("dir")).expect("mkdir");
        std::fs::write(p, text).expect("write");
    };
    w(
        "fleet.yaml",
        &format!("apiVersion: fleetc.dev/v1alpha1\nkind: Fleet\nmetadata: {{name: shards}}\nspec:\n  output:\n    format: {format}\n    repository: https://git.example.com/fleet.git\n    branch: rendered\n"),
    );
    for i in 0..n {
        let env = if i % 3 == 0 { "prod" } else { "dev" };
        w(
            &format!("clusters/c{i:04}.yaml"),
            &format!("apiVersion: fleetc.dev/v1alpha1\nkind: Cluster\nmetadata:\n  name: c{i:04}\n  labels: {{env: {env}}}\nspec:\n  owner: team-{}\n  kubernetesVersion: \"1.31.0\"\n  server: https://c{i:04}.example.com:6443\n  values:\n    web: {{replicas: {}}}\n", i % 4, 1 + i % 5),
        );
    }
    for g in ["prod", "dev"] {
        w(
            &format!("groups/{g}.yaml"),
            &format!("apiVersion: fleetc.dev/v1alpha1\nkind: ClusterGroup\nmetadata: {{name: {g}}}\nspec:\n  selector:\n    matchLabels: {{env: {g}}}\n"),
        );
    }
    for c in ["web", "cache"] {
        w(
            &format!("components/{c}/component.yaml"),
            &format!("apiVersion: fleetc.dev/v1alpha1\nkind: Component\nmetadata: {{name: {c}}}\nspec:\n  namespace: {c}\n  version: 1.0.0\n  values: {{replicas: 2}}\n"),
        );
        w(
            &format!("components/{c}/templates/app.yaml.j2"),
            &format!("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {c}\n  namespace: {c}\nspec:\n  replicas: {{{{ values.replicas }}}}\n  selector:\n    matchLabels: {{app: {c}}}\n  template:\n    metadata:\n      labels: {{app: {c}}}\n    spec:\n      containers:\n        - name: {c}\n          image: registry.example.com/{c}:1.0.0\n          resources:\n            limits: {{memory: 128Mi}}\n"),
        );
    }
    w(
        "placements/web.yaml",
        "apiVersion: fleetc.dev/v1alpha1\nkind: Placement\nmetadata: {name: web}\nspec:\n  component: web\n  target: {all: true}\n  targets:\n    - name: prod\n      target: {groups: [prod]}\n      patches:\n        - target: {kind: Deployment, name: web}\n          patch: {metadata: {annotations: {tier: prod}}}\n",
    );
    w(
        "placements/cache.yaml",
        "apiVersion: fleetc.dev/v1alpha1\nkind: Placement\nmetadata: {name: cache}\nspec:\n  component: cache\n  target: {all: true}\n  targets:\n    - name: first\n      target: {clusters: [c0000]}\n      patches:\n        - target: {kind: Deployment, name: cache}\n          patch: {metadata: {annotations: {first: \"yes\"}}}\n",
    );
}

fn run(w: &Path, args: &[&str]) -> String {
    let o = fleetc(args, w);
    assert_eq!(code(&o), 0, "fleetc {args:?}:\n{}", text(&o.stderr));
    text(&o.stdout)
}

/// Render every shard of `k` from HEAD into `w/<tag>-k/<i>`; their paths.
fn shards(w: &Path, tag: &str, k: usize) -> Vec<String> {
    (1..=k)
        .map(|i| {
            let out = format!("{tag}-{k}/{i}");
            run(
                w,
                &[
                    "render",
                    "fleet",
                    "--rev",
                    "HEAD",
                    "--shard",
                    &format!("{i}/{k}"),
                    "-o",
                    &out,
                ],
            );
            out
        })
        .collect()
}

fn with_from<'a>(args: &[&'a str], dirs: &'a [String]) -> Vec<&'a str> {
    let mut v = args.to_vec();
    for d in dirs {
        v.extend(["--from", d.as_str()]);
    }
    v
}

#[test]
fn shards_merged_equal_one_machine_byte_for_byte() {
    for (n, format) in [(1, "flux"), (13, "argocd"), (100, "flux")] {
        let tmp = tempfile::tempdir().expect("tmp");
        let w = tmp.path().join("work");
        std::fs::create_dir_all(&w).expect("mkdir");
        git(&w, &["init", "-q", "-b", "main"]);
        fleet(&w.join("fleet"), n, format);
        git(&w, &["add", "-A"]);
        git(&w, &["commit", "-q", "-m", "fleet"]);
        run(&w, &["render", "fleet", "--rev", "HEAD", "-o", "single"]);
        run(&w, &["publish", "fleet", "--branch", "single"]);
        let want = read_tree(&w.join("single"));
        let commit = git(&w, &["rev-parse", "single"]);
        for k in [1, 2, 3, 7] {
            let dirs = shards(&w, "shards", k);
            let out = format!("merged-{k}");
            let said = run(
                &w,
                &with_from(&["render", "fleet", "--rev", "HEAD", "-o", &out], &dirs),
            );
            assert!(said.starts_with(&format!("merged {k} shard")), "{said}");
            assert!(
                read_tree(&w.join(&out)) == want,
                "N={n} ({format}), {k} shards: the merged tree differs from one render"
            );
            let branch = format!("merged-{k}");
            run(
                &w,
                &with_from(&["publish", "fleet", "--branch", &branch], &dirs),
            );
            assert_eq!(
                git(&w, &["rev-parse", &branch]),
                commit,
                "N={n} ({format}), {k} shards: the merged commit differs from one publish"
            );
        }
        // Shards without their objects (shard.json says none): the merge
        // reads their files instead, to the same commit.
        let dirs = shards(&w, "bare", 3);
        let mut had = 0;
        for d in &dirs {
            let p = w.join(d).join("shard.json");
            let mut v: serde_json::Value =
                serde_json::from_slice(&std::fs::read(&p).expect("read")).expect("json");
            had += usize::from(v["objects"]["pack"].is_string());
            v.as_object_mut().expect("object").remove("objects");
            std::fs::write(&p, serde_json::to_vec_pretty(&v).expect("json")).expect("write");
        }
        assert!(had > 0, "N={n}: no shard wrote its objects");
        run(
            &w,
            &with_from(&["publish", "fleet", "--branch", "from-files"], &dirs),
        );
        assert_eq!(
            git(&w, &["rev-parse", "from-files"]),
            commit,
            "N={n}: merged from files"
        );
        git(&w, &["fsck", "--strict", "--no-dangling"]);
    }
}

#[test]
fn the_merge_decides_once_what_spans_the_fleet() {
    let tmp = tempfile::tempdir().expect("tmp");
    let w = tmp.path().join("work");
    std::fs::create_dir_all(&w).expect("mkdir");
    git(&w, &["init", "-q", "-b", "main"]);
    let f = w.join("fleet");
    fleet(&f, 13, "flux");
    // A patch that matches nothing anywhere: each shard renders, the merge fails.
    let p = f.join("placements/cache.yaml");
    let t = std::fs::read_to_string(&p).expect("read");
    std::fs::write(
        &p,
        t.replace(
            "name: cache}\n          patch: {metadata: {annotations: {first",
            "name: nothing}\n          patch: {metadata: {annotations: {first",
        ),
    )
    .expect("write");
    git(&w, &["add", "-A"]);
    git(&w, &["commit", "-q", "-m", "fleet"]);
    let dirs = shards(&w, "old", 3);
    let o = fleetc(
        &with_from(&["publish", "fleet", "--branch", "rendered"], &dirs),
        &w,
    );
    assert_eq!(code(&o), 2, "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("error[patch-matches-nothing]"),
        "{}",
        text(&o.stderr)
    );
    assert_eq!(
        text(&o.stderr)
            .matches("error[patch-matches-nothing]")
            .count(),
        1
    );
    let o = std::process::Command::new("git")
        .args(["rev-parse", "--verify", "-q", "rendered"])
        .current_dir(&w)
        .output()
        .expect("git");
    assert!(!o.status.success(), "a failed merge published something");

    // Shards that do not make one fleet.
    std::fs::write(
        &p,
        std::fs::read_to_string(&p)
            .expect("read")
            .replace("name: nothing}", "name: cache}"),
    )
    .expect("write");
    git(&w, &["commit", "-q", "-am", "fixed"]);
    let fresh = shards(&w, "new", 3);
    let cases: Vec<(Vec<String>, &str)> = vec![
        (fresh[..2].to_vec(), "shard 3/3 is missing"),
        (
            vec![fresh[0].clone(), fresh[0].clone(), fresh[2].clone()],
            "are both shard 1/3",
        ),
        (
            vec![fresh[0].clone(), dirs[1].clone(), fresh[2].clone()],
            "was rendered from other inputs",
        ),
    ];
    for (given, says) in cases {
        let o = fleetc(
            &with_from(
                &["render", "fleet", "--rev", "HEAD", "-o", "merged"],
                &given,
            ),
            &w,
        );
        assert_eq!(code(&o), 2, "{}", text(&o.stderr));
        assert!(
            text(&o.stderr).contains("error[shard-mismatch]") && text(&o.stderr).contains(says),
            "{}",
            text(&o.stderr)
        );
        assert!(
            !w.join("merged").exists(),
            "a refused merge wrote something"
        );
    }
    let o = fleetc(&["render", "fleet", "-o", "x", "--shard", "4/3"], &w);
    assert_eq!(code(&o), 2);
    assert!(text(&o.stderr).contains("1 ≤ K ≤ N"), "{}", text(&o.stderr));
}

#[test]
fn adding_clusters_moves_no_other_cluster_between_shards() {
    let names: Vec<String> = (0..2000).map(|i| format!("cluster-{i}")).collect();
    for n in [2, 3, 7, 10] {
        let mut per = vec![0usize; n];
        for c in &names {
            per[Shard::of(c, n) - 1] += 1;
        }
        // Balanced within a few percent of 2000/n.
        let even = names.len() / n;
        assert!(
            per.iter().all(|&k| k.abs_diff(even) < even / 5),
            "{n} shards: {per:?}"
        );
    }
    // One more shard moves only clusters into the new shard.
    let moved: Vec<&String> = names
        .iter()
        .filter(|c| Shard::of(c, 7) != Shard::of(c, 8))
        .collect();
    assert!(moved.iter().all(|c| Shard::of(c, 8) == 8));
    assert!(
        moved.len() < names.len() / 6,
        "{} of {} moved",
        moved.len(),
        names.len()
    );
}
