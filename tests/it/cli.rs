//! Command-line behaviour: atomic output, refusals, `--check`, up-to-date renders.
use std::path::Path;

use crate::common::*;

fn base_copy(tmp: &Path) -> std::path::PathBuf {
    let repo = tmp.join("repo");
    copy_dir(&root().join("tests/it/cases/_base"), &repo);
    repo
}

fn side_dirs(parent: &Path) -> Vec<String> {
    std::fs::read_dir(parent)
        .expect("read")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("fleetc-"))
        .collect()
}

#[test]
fn a_failed_render_leaves_the_previous_tree_untouched() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let repo = base_copy(tmp.path());
    let out = render(&repo, tmp.path(), &[]);
    let before = read_tree(&out);
    // Break a template: the next render must fail and change nothing.
    std::fs::write(
        repo.join("components/web/templates/app.yaml.j2"),
        "kind: {{ nope }}\n",
    )
    .expect("write");
    let o = fleetc(&["render", "repo", "-o", "out"], tmp.path());
    assert_eq!(code(&o), 2, "{}", text(&o.stderr));
    assert_eq!(read_tree(&out), before);
    assert!(
        side_dirs(tmp.path()).is_empty(),
        "leftovers: {:?}",
        side_dirs(tmp.path())
    );
}

/// `render` trusts the tree it wrote when inventory.json records the same
/// inputs digest (nothing is rendered or read again); `--check` verifies
/// every byte, so a hand edit is found there.
#[test]
fn check_finds_hand_edits_that_an_up_to_date_render_trusts() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let repo = base_copy(tmp.path());
    let out = render(&repo, tmp.path(), &[]);
    let inv: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("inventory.json")).expect("read"))
            .expect("json");
    let digest = inv["inputsDigest"].as_str().expect("inputsDigest");
    assert_eq!(digest.len(), 64);
    let victim = read_tree(&out)
        .into_keys()
        .find(|p| p.contains("/components/") && !p.ends_with("kustomization.yaml"))
        .expect("a resource file");
    std::fs::write(out.join(&victim), "edited: by hand\n").expect("write");
    let o = fleetc(&["render", "repo", "-o", "out"], tmp.path());
    assert_eq!(code(&o), 0);
    assert!(text(&o.stdout).contains("up to date"));
    let o = fleetc(&["render", "repo", "--check", "-o", "out"], tmp.path());
    assert_eq!(code(&o), 1, "{}", text(&o.stderr));
    assert!(
        text(&o.stdout).contains(&format!("changed out/{victim}")),
        "{}",
        text(&o.stdout)
    );
    // A different option is a different digest: rendered again, the edit is gone.
    let o = fleetc(
        &["render", "repo", "--cluster", "c", "-o", "out"],
        tmp.path(),
    );
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    assert!(text(&o.stdout).contains("rendered"), "{}", text(&o.stdout));
}

#[test]
fn rerendering_the_same_input_touches_nothing() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let repo = base_copy(tmp.path());
    let out = render(&repo, tmp.path(), &[]);
    let f = out.join("inventory.json");
    let m1 = std::fs::metadata(&f)
        .expect("meta")
        .modified()
        .expect("mtime");
    std::thread::sleep(std::time::Duration::from_millis(20));
    let o = fleetc(&["render", "repo", "-o", "out"], tmp.path());
    assert_eq!(code(&o), 0);
    assert!(
        text(&o.stdout).contains("up to date"),
        "{}",
        text(&o.stdout)
    );
    let m2 = std::fs::metadata(&f)
        .expect("meta")
        .modified()
        .expect("mtime");
    assert_eq!(m1, m2);
    // A change is swapped in whole.
    std::fs::write(
        repo.join("clusters/c.yaml"),
        std::fs::read_to_string(repo.join("clusters/c.yaml"))
            .expect("read")
            .replace("team-c", "team-z"),
    )
    .expect("write");
    let o = fleetc(&["render", "repo", "-o", "out"], tmp.path());
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    assert!(text(&std::fs::read(&f).expect("read")).contains("team-z"));
    assert!(side_dirs(tmp.path()).is_empty());
}

#[test]
fn output_directories_fleetc_did_not_create_are_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    base_copy(tmp.path());
    let foreign = tmp.path().join("foreign");
    std::fs::create_dir(&foreign).expect("mkdir");
    std::fs::write(foreign.join("precious.txt"), "keep me").expect("write");
    let o = fleetc(&["render", "repo", "-o", "foreign"], tmp.path());
    assert_eq!(code(&o), 2);
    assert!(
        text(&o.stderr).contains("not created by fleetc"),
        "{}",
        text(&o.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(foreign.join("precious.txt")).expect("read"),
        "keep me"
    );
    // The repository itself, and its parents.
    for bad in ["repo", ".", "/"] {
        let o = fleetc(&["render", "repo", "-o", bad], tmp.path());
        assert_eq!(code(&o), 2, "-o {bad}: {}", text(&o.stderr));
    }
    // A symbolic link is never written through.
    #[cfg(unix)]
    {
        let target = tmp.path().join("target");
        std::fs::create_dir(&target).expect("mkdir");
        std::os::unix::fs::symlink(&target, tmp.path().join("link")).expect("symlink");
        let o = fleetc(&["render", "repo", "-o", "link"], tmp.path());
        assert_eq!(code(&o), 2, "{}", text(&o.stderr));
        assert!(std::fs::read_dir(&target).expect("read").next().is_none());
    }
}

/// `-o a/b/out` creates the missing parents, as `mkdir -p` does; a failed
/// render removes them again, and a directory inside a tree fleetc wrote is
/// refused (that tree is replaced as a whole on its next render).
#[test]
fn missing_parents_of_the_output_are_created() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let repo = base_copy(tmp.path());
    let o = fleetc(&["render", "repo", "-o", "a/b/out"], tmp.path());
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    let out = tmp.path().join("a/b/out");
    assert!(out.join(".fleetc-output").is_file());
    assert!(out.join("inventory.json").is_file());
    assert!(side_dirs(&tmp.path().join("a/b")).is_empty());
    // The same tree as a render into an existing parent.
    let o = fleetc(&["render", "repo", "-o", "flat"], tmp.path());
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    assert_eq!(read_tree(&out), read_tree(&tmp.path().join("flat")));
    // An absolute path, and a second render into the created tree.
    let abs = tmp.path().join("c/d/out");
    let o = fleetc(
        &["render", "repo", "-o", &abs.to_string_lossy()],
        tmp.path(),
    );
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    let o = fleetc(&["render", "repo", "-o", "a/b/out"], tmp.path());
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    assert!(
        text(&o.stdout).contains("up to date"),
        "{}",
        text(&o.stdout)
    );

    // A render that fails leaves no directory behind.
    std::fs::write(
        repo.join("components/web/templates/app.yaml.j2"),
        "kind: {{ nope }}\n",
    )
    .expect("write");
    let o = fleetc(&["render", "repo", "-o", "x/y/out"], tmp.path());
    assert_eq!(code(&o), 2, "{}", text(&o.stderr));
    assert!(!tmp.path().join("x").exists(), "x/ was left behind");

    // Inside a tree fleetc wrote: refused, nothing created in it.
    let before = read_tree(&out);
    let o = fleetc(&["render", "repo", "-o", "a/b/out/new/deeper"], tmp.path());
    assert_eq!(code(&o), 2, "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("an output tree fleetc wrote"),
        "{}",
        text(&o.stderr)
    );
    assert!(!out.join("new").exists());
    assert_eq!(read_tree(&out), before);
    // The existing refusals stay: the repository, its parents, a directory
    // fleetc did not create.
    for bad in ["repo/sub/..", "repo/..", "repo/components/web"] {
        let o = fleetc(&["render", "repo", "-o", bad], tmp.path());
        assert_eq!(code(&o), 2, "-o {bad}: {}", text(&o.stderr));
    }
    // A parent that is a file cannot be created through (an I/O error).
    std::fs::write(tmp.path().join("file"), "x").expect("write");
    let o = fleetc(&["render", "repo", "-o", "file/sub/out"], tmp.path());
    assert_eq!(code(&o), 3, "{}", text(&o.stderr));
}

/// The plain format cannot carry a Helm chart, but only a placed chart has to
/// be carried: one that no placement puts on a cluster is never rendered.
#[test]
fn an_unplaced_helm_component_does_not_stop_the_plain_format() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let repo = base_copy(tmp.path());
    std::fs::create_dir_all(repo.join("components/chart")).expect("mkdir");
    std::fs::write(
        repo.join("components/chart/component.yaml"),
        "apiVersion: fleetc.dev/v1alpha1\nkind: Component\nmetadata:\n  name: chart\nspec:\n  namespace: chart\n  version: 1.2.3\n  helm: {chart: chart, repository: https://charts.example.com}\n",
    )
    .expect("write");
    let placement = |target: &str| {
        std::fs::write(
            repo.join("placements/chart.yaml"),
            format!("apiVersion: fleetc.dev/v1alpha1\nkind: Placement\nmetadata:\n  name: chart\nspec:\n  component: chart\n  target: {target}\n"),
        )
        .expect("write")
    };
    // No placement at all, then one whose target selects no cluster.
    for target in [
        None,
        Some("{clusterSelector: {matchLabels: {env: nowhere}}}"),
    ] {
        if let Some(t) = target {
            placement(t);
        }
        let o = fleetc(&["validate", "repo"], tmp.path());
        assert_eq!(code(&o), 0, "{target:?}: {}", text(&o.stderr));
        assert!(
            !text(&o.stderr).contains("Helm chart"),
            "{}",
            text(&o.stderr)
        );
        let o = fleetc(&["render", "repo", "-o", "out"], tmp.path());
        assert_eq!(code(&o), 0, "{target:?}: {}", text(&o.stderr));
        assert!(!tmp.path().join("out/clusters/a/chart").exists());
    }
    // Placed on a cluster: the plain format refuses it.
    placement("{clusters: [b]}");
    let o = fleetc(&["validate", "repo"], tmp.path());
    assert_eq!(code(&o), 2, "{}", text(&o.stderr));
    let err = text(&o.stderr);
    assert!(
        err.contains(
            "component `chart` is a Helm chart, which the plain output format cannot carry"
        ),
        "{err}"
    );
    assert!(err.contains("placements/chart.yaml:6:14"), "{err}");
    // Another format carries it.
    let o = fleetc(&["validate", "repo", "--format", "flux"], tmp.path());
    assert!(
        !text(&o.stderr).contains("Helm chart"),
        "{}",
        text(&o.stderr)
    );
}

/// Messages that count say "1 cluster", not "1 clusters".
#[test]
fn counts_of_one_are_singular() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let repo = base_copy(tmp.path());
    // numberOfClusters: 1 leaves two clusters out; explain says why.
    std::fs::write(
        repo.join("placements/web.yaml"),
        "apiVersion: fleetc.dev/v1alpha1\nkind: Placement\nmetadata:\n  name: web\nspec:\n  component: web\n  target: {all: true}\n  numberOfClusters: 1\n",
    )
    .expect("write");
    let placed = |o: &std::process::Output| text(&o.stdout).contains("web → web: selected");
    let mut left_out = 0;
    for c in ["a", "b", "c"] {
        let o = fleetc(&["explain", "repo", c], tmp.path());
        assert_eq!(code(&o), 0, "{}", text(&o.stderr));
        if !placed(&o) {
            left_out += 1;
            assert!(
                text(&o.stdout)
                    .contains("not selected: not among the 1 cluster chosen (numberOfClusters)"),
                "{}",
                text(&o.stdout)
            );
        }
    }
    assert_eq!(left_out, 2);
    // Asking for two of one candidate.
    std::fs::write(
        repo.join("placements/web.yaml"),
        "apiVersion: fleetc.dev/v1alpha1\nkind: Placement\nmetadata:\n  name: web\nspec:\n  component: web\n  target: {clusters: [a]}\n  numberOfClusters: 2\n",
    )
    .expect("write");
    let o = fleetc(&["validate", "repo"], tmp.path());
    assert!(
        text(&o.stderr).contains(
            "placement `web` asks for 2 clusters but only 1 is a candidate; all of them are used"
        ),
        "{}",
        text(&o.stderr)
    );
    // Budgets of one.
    std::fs::write(
        repo.join("components/web/templates/two.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: one}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: two}\n",
    )
    .expect("write");
    for (limit, says) in [
        ("yaml-documents=1", "more than 1 YAML document in one file"),
        ("yaml-depth=1", "YAML nesting is deeper than 1 level"),
    ] {
        let o = fleetc(&["--limit", limit, "validate", "repo"], tmp.path());
        assert_eq!(code(&o), 2, "{}", text(&o.stderr));
        assert!(
            text(&o.stderr).contains(says),
            "{limit}: {}",
            text(&o.stderr)
        );
    }
}

#[test]
fn check_lists_every_difference_and_exits_1() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let repo = base_copy(tmp.path());
    let out = render(&repo, tmp.path(), &[]);
    let o = fleetc(&["render", "repo", "-o", "out", "--check"], tmp.path());
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    std::fs::write(out.join("clusters/a/kustomization.yaml"), "edited\n").expect("write");
    std::fs::remove_file(out.join("clusters/b/kustomization.yaml")).expect("rm");
    std::fs::write(out.join("clusters/extra.yaml"), "x: 1\n").expect("write");
    let o = fleetc(&["render", "repo", "-o", "out", "--check"], tmp.path());
    assert_eq!(code(&o), 1);
    let stdout = text(&o.stdout);
    assert!(
        stdout.contains("changed out/clusters/a/kustomization.yaml"),
        "{stdout}"
    );
    assert!(
        stdout.contains("missing out/clusters/b/kustomization.yaml"),
        "{stdout}"
    );
    assert!(stdout.contains("extra out/clusters/extra.yaml"), "{stdout}");
    // --check never writes.
    assert_eq!(
        std::fs::read_to_string(out.join("clusters/a/kustomization.yaml")).expect("read"),
        "edited\n"
    );
}

/// `--check` compares file by file as clusters stream by; inventory.json,
/// written in pieces, is compared piece by piece (a longer or shorter file
/// is a difference) and a link in the tree is never taken for the file.
#[test]
fn check_finds_inventory_edits_and_links() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let repo = base_copy(tmp.path());
    let out = render(&repo, tmp.path(), &[]);
    let check = || {
        let o = fleetc(&["render", "repo", "-o", "out", "--check"], tmp.path());
        (code(&o), text(&o.stdout))
    };
    let inv = out.join("inventory.json");
    let original = std::fs::read(&inv).expect("read");
    for edited in [
        [original.as_slice(), b" "].concat(),
        original[..original.len() - 2].to_vec(),
    ] {
        std::fs::write(&inv, &edited).expect("write");
        let (c, stdout) = check();
        assert_eq!(c, 1, "{stdout}");
        assert_eq!(stdout, "changed out/inventory.json\n");
    }
    std::fs::write(&inv, &original).expect("write");
    assert_eq!(check().0, 0);
    // A link to an identical file elsewhere is still not the file.
    let victim = out.join("clusters/a/kustomization.yaml");
    let elsewhere = tmp.path().join("copy.yaml");
    std::fs::copy(&victim, &elsewhere).expect("copy");
    std::fs::remove_file(&victim).expect("rm");
    std::os::unix::fs::symlink(&elsewhere, &victim).expect("symlink");
    let (c, stdout) = check();
    assert_eq!(c, 1, "{stdout}");
    assert_eq!(stdout, "changed out/clusters/a/kustomization.yaml\n");
}

#[test]
fn cluster_filter_renders_only_those_clusters() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let repo = base_copy(tmp.path());
    let out = render(&repo, tmp.path(), &["--cluster", "b"]);
    let dirs: Vec<String> = std::fs::read_dir(out.join("clusters"))
        .expect("read")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(dirs, vec!["b".to_string()]);
}

#[test]
fn plain_yaml_with_another_engines_braces_is_never_templated() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let repo = base_copy(tmp.path());
    // The project's own Kyverno policies (tests/fixtures/README.md).
    let corpus = root().join("tests/fixtures/kyverno-policies");
    let dir = repo.join("components/web/templates");
    // Only the policies: the corpus enforces rules the base Deployment
    // breaks, which the clusters' admission (tested elsewhere) reports.
    std::fs::remove_file(dir.join("app.yaml.j2")).expect("remove");
    let mut with_braces = 0;
    for e in std::fs::read_dir(&corpus).expect("fixtures").flatten() {
        let t = std::fs::read_to_string(e.path()).expect("read");
        if t.contains("{{") {
            with_braces += 1;
        }
        std::fs::copy(e.path(), dir.join(e.file_name())).expect("copy");
    }
    assert!(with_braces >= 10, "only {with_braces} policies with braces");
    let out = render(&repo, tmp.path(), &[]);
    // Every corpus policy comes out with the same data, plus fleetc's labels and annotation.
    for e in std::fs::read_dir(&corpus).expect("fixtures").flatten() {
        let src = std::fs::read_to_string(e.path()).expect("read");
        let orig = fleetc::yaml::parse_single(
            &fleetc::diag::Source::new("o", src.as_str()),
            &Default::default(),
        )
        .expect("parse")
        .expect("doc");
        let name = orig
            .get_path(&["metadata", "name"])
            .and_then(|n| n.as_str())
            .expect("name")
            .to_string();
        let path = out.join(format!(
            "clusters/a/components/web/clusterpolicy.kyverno.io_{name}.yaml"
        ));
        let got_text =
            std::fs::read_to_string(&path).unwrap_or_else(|_| panic!("{} missing", path.display()));
        let mut got = fleetc::yaml::parse_single(
            &fleetc::diag::Source::new("g", got_text.as_str()),
            &Default::default(),
        )
        .expect("parse")
        .expect("doc")
        .to_json();
        let md = got["metadata"].as_object_mut().expect("metadata");
        let labels = md
            .get_mut("labels")
            .and_then(|l| l.as_object_mut())
            .expect("labels");
        for k in ["app.kubernetes.io/managed-by", "fleetc.dev/cluster"] {
            labels.remove(k);
        }
        if labels.is_empty() {
            md.remove("labels");
        }
        let ann = md
            .get_mut("annotations")
            .and_then(|a| a.as_object_mut())
            .expect("annotations");
        ann.remove("fleetc.dev/source");
        if ann.is_empty() {
            md.remove("annotations");
        }
        assert_eq!(
            got,
            orig.to_json(),
            "{} changed meaning",
            e.path().display()
        );
    }
}

#[cfg(unix)]
#[test]
fn symlinks_are_followed_inside_the_repo_and_refused_outside() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let repo = base_copy(tmp.path());
    // Inside: a common values file reached through `../`.
    std::fs::create_dir(repo.join("common")).expect("mkdir");
    std::fs::rename(repo.join("clusters/c.yaml"), repo.join("common/c.yaml")).expect("mv");
    std::os::unix::fs::symlink("../common/c.yaml", repo.join("clusters/c.yaml")).expect("symlink");
    let o = fleetc(&["validate", "repo"], tmp.path());
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    // Outside: refused, and its content never printed.
    std::fs::write(tmp.path().join("outside.yaml"), "secret-content: 42\n").expect("write");
    std::os::unix::fs::symlink("../../outside.yaml", repo.join("clusters/d.yaml"))
        .expect("symlink");
    let o = fleetc(&["validate", "repo"], tmp.path());
    assert_eq!(code(&o), 2);
    let err = text(&o.stderr);
    assert!(
        err.contains("clusters/d.yaml") && err.contains("outside the repository"),
        "{err}"
    );
    assert!(!err.contains("secret-content"));
}

#[cfg(unix)]
#[test]
fn special_files_are_refused_without_blocking() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let repo = base_copy(tmp.path());
    let fifo = repo.join("clusters/pipe.yaml");
    let st = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo");
    assert!(st.success());
    let o = fleetc(&["validate", "repo"], tmp.path());
    assert_eq!(code(&o), 2);
    assert!(
        text(&o.stderr).contains("clusters/pipe.yaml"),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn no_input_ever_panics_the_binary() {
    // A few hostile shapes at once; the exit code is 2, never 101 (panic).
    let tmp = tempfile::tempdir().expect("tempdir");
    let repo = base_copy(tmp.path());
    std::fs::write(repo.join("clusters/bin.yaml"), [0xff, 0xfe, 0x00, 0x41]).expect("write");
    std::fs::write(repo.join("groups/list.yaml"), "- a\n- b\n").expect("write");
    std::fs::write(repo.join("placements/multi.yaml"), "a: 1\n---\nb: 2\n").expect("write");
    std::fs::write(repo.join("components/web/templates/x.yaml.j2"), "{% for %}").expect("write");
    std::fs::write(
        repo.join("components/web/templates/y.yaml"),
        "- just\n- a list\n",
    )
    .expect("write");
    let o = fleetc(&["render", "repo", "-o", "out"], tmp.path());
    assert_eq!(code(&o), 2, "{}", text(&o.stderr));
    assert!(
        !tmp.path().join("out").exists(),
        "nothing may be written on failure"
    );
}

/// A reader that goes away (`fleetc … | head -1`) ends the output quietly:
/// no panic (exit 101), the command's own exit status.
#[test]
fn a_closed_stdout_is_not_a_panic() {
    let repo = root().join("examples/fleet-repo");
    for (args, want) in [
        (vec!["schema", "Cluster"], 0),
        (vec!["schema"], 0),
        (vec!["validate", "."], 0),
        (vec!["explain", ".", "prod-eu-west-1"], 0),
        (vec!["report", ".", "--format", "html"], 0),
        (vec!["--output-format", "json", "validate", "."], 0),
    ] {
        let (reader, writer) = std::io::pipe().expect("pipe");
        drop(reader);
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_fleetc"))
            .args(&args)
            .current_dir(&repo)
            .stdout(writer)
            .stderr(std::process::Stdio::piped())
            .output()
            .expect("run fleetc");
        let err = text(&o.stderr);
        assert_eq!(code(&o), want, "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

/// On a terminal, a long run shows how many clusters are done and clears
/// it at the end; never on a pipe, under `--quiet` or in a machine format.
#[test]
fn progress_shows_on_a_terminal_only() {
    let bin = env!("CARGO_BIN_EXE_fleetc");
    let repo = root().join("examples/fleet-repo");
    // `script` gives the command a terminal; what it drew comes back on stdout.
    let on_tty = |args: &str| {
        let o = std::process::Command::new("script")
            .args(["-qec", &format!("{bin} {args}"), "/dev/null"])
            .current_dir(&repo)
            .output()
            .expect("script (util-linux)");
        assert!(o.status.success(), "{}", text(&o.stderr));
        text(&o.stdout)
    };
    let shown = on_tty("validate");
    assert!(
        shown.contains("checking") && shown.contains("/13 clusters ["),
        "{shown}"
    );
    assert!(
        shown.contains("\x1b[2K"),
        "the display is not cleared: {shown:?}"
    );
    assert!(shown.contains("fleet `acme` is valid"), "{shown}");
    for quiet in ["validate --quiet", "validate --output-format json"] {
        let t = on_tty(quiet);
        assert!(!t.contains("clusters ["), "{quiet}: {t}");
    }
    let o = fleetc(&["validate"], &repo);
    assert!(
        !text(&o.stderr).contains("clusters ["),
        "{}",
        text(&o.stderr)
    );
    let o = fleetc(&["validate", "-q"], &repo);
    assert_eq!(code(&o), 0);
    assert!(text(&o.stdout).is_empty(), "{}", text(&o.stdout));
}
