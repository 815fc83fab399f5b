//! Streaming (`fleetc::stream`, what `render` and `validate` run): a
//! cluster at a time, in batches, it produces exactly the files of an
//! in-memory compile, whatever the batch size, including a
//! CustomResourceDefinition rendered on one cluster deciding the scope of
//! its kind on every other.
use std::collections::BTreeMap;
use std::path::Path;

use fleetc::emit::write::Collect;
use fleetc::load::model::Format;

use crate::common::*;

fn in_memory(
    fs: &fleetc::source::FileSet,
    opts: &fleetc::driver::Options,
) -> Option<BTreeMap<String, Vec<u8>>> {
    let (c, _) = fleetc::driver::compile(fs, opts);
    c.map(|c| c.tree.files)
}

fn streamed(
    fs: &fleetc::source::FileSet,
    opts: &fleetc::driver::Options,
    batch: usize,
) -> BTreeMap<String, Vec<u8>> {
    let p = fleetc::driver::plan(fs, opts).expect("plan");
    let sink = Collect::default();
    let (s, d) =
        fleetc::driver::render_to_in_batches(fs, p, opts, &sink, batch, None).expect("sink");
    assert!(!d.has_errors(), "{}", d.render(false));
    drop(s);
    sink.0.into_inner().expect("lock")
}

fn read(dir: &Path) -> fleetc::source::FileSet {
    fleetc::source::read_dir(dir, &Default::default()).expect("read")
}

#[test]
fn streaming_in_any_batch_size_gives_the_in_memory_tree() {
    let mut repos = examples();
    repos.push(("_base".into(), root().join("tests/it/cases/_base")));
    let mut compared = 0;
    for (name, dir) in repos {
        let fs = read(&dir);
        for format in [Format::Flux, Format::ArgoCd, Format::Plain] {
            let opts = fleetc::driver::Options {
                format: Some(format),
                source_rev: Some("0123456789abcdef0123456789abcdef01234567".into()),
                ..fleetc::driver::Options::new(crate::common::TODAY.into())
            };
            let Some(want) = in_memory(&fs, &opts) else {
                continue;
            };
            assert!(want.contains_key("inventory.json"));
            for batch in [1, 2, 5, 128] {
                let got = streamed(&fs, &opts, batch);
                assert!(
                    got == want,
                    "{name} ({}) streamed in batches of {batch} differs from the in-memory tree",
                    format.as_str()
                );
            }
            compared += 1;
        }
    }
    assert!(compared >= 4, "only {compared} fleets compared");
}

#[test]
fn a_crd_on_one_cluster_scopes_its_kind_on_every_cluster_when_streamed() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let repo = tmp.path().join("repo");
    copy_dir(&root().join("tests/it/cases/_base"), &repo);
    // Clusters b and c have the Widget kind without a CRD of their own (say,
    // installed by hand); only its scope comes from a's CRD.
    for c in ["b", "c"] {
        let p = repo.join(format!("clusters/{c}.yaml"));
        let text = std::fs::read_to_string(&p).expect("cluster");
        std::fs::write(&p, format!("{text}  existingKinds: [Widget.example.dev]\n"))
            .expect("write cluster");
    }
    let w = |p: &str, text: &str| {
        let f = repo.join(p);
        std::fs::create_dir_all(f.parent().expect("parent")).expect("mkdir");
        std::fs::write(f, text).expect("write");
    };
    w(
        "components/widget-crd/component.yaml",
        "apiVersion: fleetc.dev/v1alpha1\nkind: Component\nmetadata:\n  name: widget-crd\nspec:\n  namespace: widgets\n  version: 1.0.0\n",
    );
    w(
        "components/widget-crd/templates/crd.yaml",
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: widgets.example.dev\nspec:\n  group: example.dev\n  scope: Cluster\n  names: {kind: Widget, plural: widgets, singular: widget, listKind: WidgetList}\n  versions:\n  - name: v1\n    served: true\n    storage: true\n    schema:\n      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}\n",
    );
    w(
        "placements/widget-crd.yaml",
        "apiVersion: fleetc.dev/v1alpha1\nkind: Placement\nmetadata:\n  name: widget-crd\nspec:\n  component: widget-crd\n  target: {clusters: [a]}\n",
    );
    w(
        "components/widget/component.yaml",
        "apiVersion: fleetc.dev/v1alpha1\nkind: Component\nmetadata:\n  name: widget\nspec:\n  namespace: widgets\n  version: 1.0.0\n",
    );
    w(
        "components/widget/templates/widget.yaml.j2",
        "apiVersion: example.dev/v1\nkind: Widget\nmetadata:\n  name: w-{{ cluster.name }}\nspec: {size: 1}\n",
    );
    w(
        "placements/widget.yaml",
        "apiVersion: fleetc.dev/v1alpha1\nkind: Placement\nmetadata:\n  name: widget\nspec:\n  component: widget\n  target: {all: true}\n",
    );
    let fs = read(&repo);
    let opts = fleetc::driver::Options::new(crate::common::TODAY.into());
    let want = in_memory(&fs, &opts).expect("compiles");
    // Cluster `c` has no CRD of its own; the one on `a` makes its Widget cluster-scoped.
    let (path, bytes) = want
        .iter()
        .find(|(p, _)| {
            p.starts_with("clusters/c/components/widget/") && p.contains("widget.example.dev_")
        })
        .expect("c's widget");
    let text = String::from_utf8_lossy(bytes);
    assert!(text.contains("kind: Widget"), "{path}: {text}");
    assert!(
        !text.contains("namespace:"),
        "{path} must not be namespaced:\n{text}"
    );
    for batch in [1, 2, 128] {
        assert!(streamed(&fs, &opts, batch) == want, "batches of {batch}");
    }
    // And the binary, which streams, writes the same tree.
    let out = render(&repo, tmp.path(), &[]);
    assert!(
        read_tree(&out) == want,
        "fleetc render differs from the in-memory tree"
    );
}

/// What `diff` runs: both sides rendered a batch of changed clusters at a
/// time, compared and folded batch by batch.
fn diff_json(
    base: &fleetc::source::FileSet,
    head: &fleetc::source::FileSet,
    opts: &fleetc::driver::Options,
    batch: usize,
) -> serde_json::Value {
    let (pb, ph) = (
        fleetc::driver::plan(base, opts).expect("plan base"),
        fleetc::driver::plan(head, opts).expect("plan head"),
    );
    let side = |fs, planned, label| fleetc::driver::DiffSide {
        fs,
        planned,
        opts,
        label,
    };
    let report = fleetc::driver::diff(
        side(base, &pb, "base"),
        side(head, &ph, "head"),
        batch,
        false,
    )
    .unwrap_or_else(|(l, d)| panic!("{l}: {}", d.render(false)));
    fleetc::diff::format::json(&report)
}

#[test]
fn diff_in_any_batch_size_gives_the_in_memory_comparison() {
    let base = read(&root().join("examples/fleet-repo"));
    let mut head = base.clone();
    let edit = |fs: &mut fleetc::source::FileSet, path: &str, from: &str, to: &str| {
        let text = String::from_utf8(fs.files[path].to_vec()).expect("utf-8");
        assert!(text.contains(from), "{path} has no `{from}`");
        fs.files
            .insert(path.into(), text.replacen(from, to, 1).into_bytes().into());
    };
    // A group value (several clusters change alike), one cluster gone, one
    // cluster new (a copy of another under a new name).
    edit(
        &mut head,
        "groups/production.yaml",
        "replicas: 4",
        "replicas: 5",
    );
    head.files.remove("clusters/dev-eu-west.yaml");
    let copy = String::from_utf8(head.files["clusters/staging-us-east.yaml"].to_vec())
        .expect("utf-8")
        .replace("name: staging-us-east", "name: staging-us-west");
    assert!(copy.contains("staging-us-west"));
    head.files.insert(
        "clusters/staging-us-west.yaml".into(),
        copy.into_bytes().into(),
    );
    let opts = fleetc::driver::Options {
        inventory: false,
        ..fleetc::driver::Options::new(crate::common::TODAY.into())
    };
    // The reference: both trees in memory, compared whole.
    let (b, _) = fleetc::driver::compile(&base, &opts);
    let (h, d) = fleetc::driver::compile(&head, &opts);
    let (b, h) = (
        b.expect("base compiles"),
        h.unwrap_or_else(|| panic!("{}", d.render(false))),
    );
    let mut groups = b.resolved.members.clone();
    groups.extend(h.resolved.members.clone());
    let want = fleetc::diff::format::json(&fleetc::diff::compare(
        &b.tree, &h.tree, &groups, "base", "head",
    ));
    // Changes, and the clusters that appear or disappear (summarised).
    let blocks = want["changes"].as_array().map_or(0, Vec::len);
    let whole = want["wholeClusters"].as_array().map_or(0, Vec::len);
    assert_eq!(whole, 2, "{}", want["wholeClusters"]);
    assert!(
        blocks >= 1,
        "the edits should change something: {}",
        want["verdict"]
    );
    for batch in [1, 2, 3, 256] {
        let got = diff_json(&base, &head, &opts, batch);
        assert!(
            got == want,
            "diff in batches of {batch} differs from the in-memory comparison: {} vs {}\n{}\n{}",
            got["verdict"],
            want["verdict"],
            got["wholeClusters"],
            want["wholeClusters"]
        );
    }
}
