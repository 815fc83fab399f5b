//! Resolution shares one merge of a unit's values between the clusters
//! whose layers are the same nodes, and a shared merge behaves exactly as
//! merging again would: the same values, and its diagnostics once per
//! cluster. A cluster that sets values of its own gets its own merge.
use std::sync::Arc;

use fleetc::diag::Code;
use fleetc::source::FileSet;

fn cluster(name: &str, env: &str, own: &str) -> Vec<u8> {
    format!(
        "apiVersion: fleetc.dev/v1alpha1\nkind: Cluster\nmetadata:\n  name: {name}\n  labels: {{env: {env}}}\nspec:\n  owner: t\n  kubernetesVersion: \"1.30.1\"\n{own}"
    )
    .into_bytes()
}

fn fleet() -> FileSet {
    let mut fs = FileSet::default();
    fs.insert("fleet.yaml", b"apiVersion: fleetc.dev/v1alpha1\nkind: Fleet\nmetadata: {name: f}\nspec:\n  output: {format: plain}\n  locked: [values.web.port]\n".to_vec());
    fs.insert("components/web/component.yaml", b"apiVersion: fleetc.dev/v1alpha1\nkind: Component\nmetadata: {name: web}\nspec:\n  namespace: web\n  values: {replicas: 1, port: 8080}\n".to_vec());
    fs.insert("placements/web.yaml", b"apiVersion: fleetc.dev/v1alpha1\nkind: Placement\nmetadata: {name: web}\nspec:\n  component: web\n  target: {all: true}\n".to_vec());
    // prod changes the locked port: every prod cluster's merge refuses it.
    fs.insert("groups/prod.yaml", b"apiVersion: fleetc.dev/v1alpha1\nkind: ClusterGroup\nmetadata: {name: prod}\nspec:\n  selector: {matchLabels: {env: prod}}\n  values:\n    web: {replicas: 3, port: 9090}\n".to_vec());
    fs.insert("clusters/a.yaml", cluster("a", "prod", ""));
    fs.insert("clusters/b.yaml", cluster("b", "prod", ""));
    fs.insert(
        "clusters/c.yaml",
        cluster("c", "prod", "  values:\n    web: {replicas: 5}\n"),
    );
    fs.insert("clusters/d.yaml", cluster("d", "dev", ""));
    fs
}

#[test]
fn clusters_with_the_same_layers_share_one_merge() {
    let opts = fleetc::driver::Options::new(crate::common::TODAY.into());
    let (repo, diags) = fleetc::load::load(&fleet(), &opts.budget);
    assert!(!diags.has_errors(), "{}", diags.render(false));
    let (resolved, diags) = fleetc::resolve::resolve(&repo, &opts.today);
    let web = |name: &str| {
        let rc = resolved.clusters.iter().find(|c| c.name == name).unwrap();
        rc.units[0].values.clone()
    };
    let (a, b, c, d) = (web("a"), web("b"), web("c"), web("d"));
    assert!(Arc::ptr_eq(&a, &b), "a and b have the same layers");
    assert!(!Arc::ptr_eq(&a, &c), "c sets values of its own");
    assert!(!Arc::ptr_eq(&a, &d), "d is not in prod");
    let get = |m: &fleetc::resolve::merge::Merged, k: &str| {
        m.node.get(k).and_then(fleetc::yaml::Node::as_i64)
    };
    assert_eq!(
        (get(&a, "replicas"), get(&a, "port")),
        (Some(3), Some(8080))
    );
    assert_eq!(
        (get(&c, "replicas"), get(&c, "port")),
        (Some(5), Some(8080))
    );
    assert_eq!(
        (get(&d, "replicas"), get(&d, "port")),
        (Some(1), Some(8080))
    );
    // The refused port is reported by each prod cluster's merge, shared or not.
    let locked = diags
        .items
        .iter()
        .filter(|d| d.code == Code::LockedValue)
        .count();
    assert_eq!(locked, 3, "{}", diags.render(false));
}
