//! Property test of `numberOfClusters` (SPEC §3): over random fleets, adding
//! one cluster changes at most one chosen cluster, and the order candidates
//! come in never matters. Deterministic pseudo-random fleets (a fixed-seed
//! xorshift), so a failure reproduces.
use std::collections::BTreeSet;

use fleetc::resolve::select::pick;
use fleetc::source::FileSet;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const REGIONS: &[&str] = &["eu", "us", "ap", "sa"];

fn cluster_file(name: &str, region: Option<&str>) -> String {
    let labels = region
        .map(|r| format!("\n  labels: {{region: {r}}}"))
        .unwrap_or_default();
    format!(
        "apiVersion: fleetc.dev/v1alpha1\nkind: Cluster\nmetadata:\n  name: {name}{labels}\nspec:\n  owner: t\n  kubernetesVersion: \"1.30.1\"\n"
    )
}

fn fleet(clusters: &[(String, Option<&str>)], n: usize, spread: bool) -> FileSet {
    let mut fs = FileSet::default();
    fs.insert("fleet.yaml", b"apiVersion: fleetc.dev/v1alpha1\nkind: Fleet\nmetadata: {name: f}\nspec: {output: {format: plain}}\n".to_vec());
    fs.insert("components/app/component.yaml", b"apiVersion: fleetc.dev/v1alpha1\nkind: Component\nmetadata: {name: app}\nspec: {namespace: app}\n".to_vec());
    let spread = if spread { "\n  spreadBy: region" } else { "" };
    fs.insert(
        "placements/app.yaml",
        format!("apiVersion: fleetc.dev/v1alpha1\nkind: Placement\nmetadata: {{name: app}}\nspec:\n  component: app\n  target: {{all: true}}\n  numberOfClusters: {n}{spread}\n").into_bytes(),
    );
    for (c, r) in clusters {
        fs.insert(
            format!("clusters/{c}.yaml"),
            cluster_file(c, *r).into_bytes(),
        );
    }
    fs
}

fn chosen(fs: &FileSet) -> BTreeSet<String> {
    let (compiled, diags) = fleetc::driver::compile(
        fs,
        &fleetc::driver::Options::new(crate::common::TODAY.into()),
    );
    let c = compiled.unwrap_or_else(|| panic!("{}", diags.render(false)));
    c.resolved
        .clusters
        .iter()
        .filter(|rc| !rc.units.is_empty())
        .map(|rc| rc.name.clone())
        .collect()
}

#[test]
fn adding_a_cluster_changes_at_most_one_choice() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for round in 0..60 {
        let size = 3 + rng.below(25) as usize;
        let mut clusters: Vec<(String, Option<&str>)> = (0..size)
            .map(|i| {
                let r = rng.below(REGIONS.len() as u64 + 1) as usize;
                (
                    format!("c{round}-{i}-{}", rng.below(1000)),
                    REGIONS.get(r).copied(),
                )
            })
            .collect();
        clusters.sort();
        clusters.dedup_by(|a, b| a.0 == b.0);
        let n = 1 + rng.below(size as u64) as usize;
        let spread = rng.below(2) == 0;
        let before = chosen(&fleet(&clusters, n, spread));
        let r = rng.below(REGIONS.len() as u64 + 1) as usize;
        clusters.push((format!("new-{round}"), REGIONS.get(r).copied()));
        let after = chosen(&fleet(&clusters, n, spread));
        assert_eq!(before.len(), n.min(clusters.len() - 1), "round {round}");
        let lost = before.difference(&after).count();
        assert!(lost <= 1, "round {round} (n={n}, spread={spread}): {lost} chosen clusters changed\nbefore {before:?}\nafter  {after:?}");
    }
}

#[test]
fn candidate_order_never_matters() {
    let mut rng = Rng(42);
    for round in 0..200 {
        let size = 1 + rng.below(30) as usize;
        let names: Vec<String> = (0..size)
            .map(|i| format!("k{i}-{}", rng.below(10_000)))
            .collect();
        let mut cands: Vec<(&str, Option<&str>)> = names
            .iter()
            .map(|n| (n.as_str(), REGIONS.get(rng.below(5) as usize).copied()))
            .collect();
        let n = 1 + rng.below(size as u64) as usize;
        let first = pick("p", &cands, n);
        for _ in 0..3 {
            // Fisher–Yates shuffle.
            for i in (1..cands.len()).rev() {
                let j = rng.below(i as u64 + 1) as usize;
                cands.swap(i, j);
            }
            assert_eq!(pick("p", &cands, n), first, "round {round}");
        }
    }
}
