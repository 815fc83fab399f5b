//! `cargo xtask bench`: fleetc against the file-system floor and the
//! kustomize peer on generated fleets (see synth.rs), side by side in one run.
//!
//! Per size N: cold render to disk, `render --check`, an up-to-date
//! re-render, `validate`, `diff` between two revisions that differ in one
//! group value, `cp -r` of the rendered tree (paired with each cold render),
//! and `kubectl kustomize` over every cluster of the twin, parallel over the
//! cores (N ≤ 1000 unless --kustomize-max says otherwise). Following
//! the benchmarking rules (BENCHMARKS.md): old trees are moved aside, never deleted between
//! timed runs; `sync` before each run; medians and ratios of paired runs.
//! Times and peak RSS come from /usr/bin/time.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{bail, Context, Result};

use crate::synth::{self, Size};

struct Opts {
    sizes: Vec<usize>,
    components: usize,
    resources: usize,
    runs: usize,
    kustomize_max: usize,
    dir: PathBuf,
    /// Only what needs no output tree (`validate`, `diff`): for sizes whose
    /// tree the disk cannot hold.
    in_memory_only: bool,
    /// Only the sharded render and its merge: for sizes whose full set of
    /// CI-path rows would take too long (each shard's tree is removed once
    /// it is merged).
    sharded_only: bool,
    /// Shards of the sharded rows.
    shards: usize,
}

fn parse(args: &[String]) -> Result<Opts> {
    let mut o = Opts {
        sizes: vec![100, 1000, 10_000],
        components: 20,
        resources: 6,
        runs: 3,
        kustomize_max: 1000,
        dir: crate::root().join("target/bench"),
        in_memory_only: false,
        sharded_only: false,
        shards: 4,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut val = || it.next().with_context(|| format!("{a} needs a value"));
        match a.as_str() {
            "--sizes" => {
                o.sizes = val()?
                    .split(',')
                    .map(|s| {
                        s.trim()
                            .parse()
                            .context("--sizes: numbers separated by commas")
                    })
                    .collect::<Result<_>>()?;
            }
            "--components" => o.components = val()?.parse()?,
            "--resources" => o.resources = val()?.parse()?,
            "--runs" => o.runs = val()?.parse()?,
            "--kustomize-max" => o.kustomize_max = val()?.parse()?,
            "--in-memory-only" => o.in_memory_only = true,
            "--sharded-only" => o.sharded_only = true,
            "--shards" => o.shards = val()?.parse()?,
            "--dir" => o.dir = PathBuf::from(val()?),
            other => bail!("unknown argument {other}; see `cargo xtask` for usage"),
        }
    }
    // Commands run inside the size's directory: paths given to them must be absolute.
    o.dir = std::path::absolute(&o.dir)?;
    if o.runs == 0 || o.resources == 0 || o.resources > synth::KINDS.len() {
        bail!("--runs ≥ 1 and 1 ≤ --resources ≤ {}", synth::KINDS.len());
    }
    if o.shards == 0 || (o.in_memory_only && o.sharded_only) {
        bail!("--shards ≥ 1, and at most one of --in-memory-only and --sharded-only");
    }
    Ok(o)
}

/// One timed command: wall seconds and peak RSS (KiB) of the process.
struct Timed {
    secs: f64,
    peak_kib: u64,
    code: i32,
}

fn timed(cmd: &[&str], cwd: &Path, stdout: Option<&Path>) -> Result<Timed> {
    let _ = Command::new("sync").status();
    let report = tempfile::NamedTempFile::new()?;
    let mut c = Command::new("/usr/bin/time");
    c.args(["-f", "%e %M", "-o"])
        .arg(report.path())
        .args(cmd)
        .current_dir(cwd)
        .stderr(Stdio::null());
    match stdout {
        Some(p) => c.stdout(std::fs::File::create(p)?),
        None => c.stdout(Stdio::null()),
    };
    let status = c
        .status()
        .context("/usr/bin/time is required (apt-get install time)")?;
    let text = std::fs::read_to_string(report.path())?;
    let last = text.lines().last().unwrap_or_default();
    let mut f = last.split_whitespace();
    let secs: f64 = f.next().unwrap_or("0").parse().unwrap_or(0.0);
    let peak_kib: u64 = f.next().unwrap_or("0").parse().unwrap_or(0);
    Ok(Timed {
        secs,
        peak_kib,
        code: status.code().unwrap_or(-1),
    })
}

/// Two commands timed in pairs: medians, peaks, and the median (and
/// range) of the pairs' ratios b/a.
struct Paired {
    runs: usize,
    a: f64,
    b: f64,
    a_peak: u64,
    b_peak: u64,
    ratio: f64,
    ratio_min: f64,
    ratio_max: f64,
}

/// Run `a` then `b`, `runs` times; both must exit 0.
fn paired(runs: usize, a: &[&str], b: &[&str], cwd: &Path) -> Result<Paired> {
    let (mut ta, mut tb, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    let (mut a_peak, mut b_peak) = (0, 0);
    for _ in 0..runs {
        let x = timed(a, cwd, None)?;
        let y = timed(b, cwd, None)?;
        if x.code != 0 || y.code != 0 {
            bail!(
                "{a:?} exited {}, {b:?} exited {}: both should exit 0",
                x.code,
                y.code
            );
        }
        a_peak = a_peak.max(x.peak_kib);
        b_peak = b_peak.max(y.peak_kib);
        ratios.push(y.secs / x.secs.max(0.001));
        ta.push(x.secs);
        tb.push(y.secs);
    }
    let ratio = median(&mut ratios);
    Ok(Paired {
        runs,
        a: median(&mut ta),
        b: median(&mut tb),
        a_peak,
        b_peak,
        ratio,
        ratio_min: ratios[0],
        ratio_max: ratios[ratios.len() - 1],
    })
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// "median× … (min–max": a paired ratio's median and range, for a note.
fn spread(v: &mut [f64]) -> String {
    let m = median(v);
    format!("{m:.2}× ({:.2}–{:.2}", v[0], v[v.len() - 1])
}

/// Fresh branch names for publishes: bench-1, bench-2, …
fn branch_names() -> impl FnMut() -> String {
    let mut branch = 0;
    move || {
        branch += 1;
        format!("bench-{branch}")
    }
}

fn git(dir: &Path, args: &[&str]) -> Result<()> {
    let st = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "bench")
        .env("GIT_AUTHOR_EMAIL", "bench@example.com")
        .env("GIT_COMMITTER_NAME", "bench")
        .env("GIT_COMMITTER_EMAIL", "bench@example.com")
        .env("GIT_AUTHOR_DATE", "2026-01-01T00:00:00Z")
        .env("GIT_COMMITTER_DATE", "2026-01-01T00:00:00Z")
        .stdout(Stdio::null())
        .status()?;
    if !st.success() {
        bail!("git {args:?} failed");
    }
    Ok(())
}

/// `kubectl kustomize` of every cluster of the twin, `jobs` at a time; wall seconds.
fn kustomize_loop(twin: &Path, out: &Path, clusters: usize, jobs: usize) -> Result<f64> {
    std::fs::create_dir_all(out)?;
    let next = std::sync::atomic::AtomicUsize::new(0);
    let failed = std::sync::atomic::AtomicBool::new(false);
    let _ = Command::new("sync").status();
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..jobs {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= clusters {
                    break;
                }
                let c = synth::cluster_name(i);
                let ok = std::fs::File::create(out.join(format!("{c}.yaml")))
                    .ok()
                    .and_then(|f| {
                        Command::new("kubectl")
                            .arg("kustomize")
                            .arg(twin.join("clusters").join(&c))
                            .stdout(f)
                            .stderr(Stdio::null())
                            .status()
                            .ok()
                    })
                    .is_some_and(|st| st.success());
                if !ok {
                    failed.store(true, std::sync::atomic::Ordering::Relaxed);
                }
            });
        }
    });
    if failed.load(std::sync::atomic::Ordering::Relaxed) {
        bail!("kubectl kustomize failed on the twin of {}", twin.display());
    }
    Ok(start.elapsed().as_secs_f64())
}

struct Row {
    n: usize,
    what: &'static str,
    secs: f64,
    runs: usize,
    peak_mib: Option<f64>,
    note: String,
}

pub fn run(args: &[String]) -> Result<()> {
    let o = parse(args)?;
    let root = crate::root();
    let st = Command::new("cargo")
        .args([
            "build",
            "--release",
            "-q",
            "--locked",
            "-p",
            "fleetc",
            "--bin",
            "fleetc",
        ])
        .current_dir(&root)
        .status()?;
    if !st.success() {
        bail!("cargo build --release failed");
    }
    let fleetc = root.join("target/release/fleetc");
    let fleetc = fleetc.to_string_lossy().into_owned();
    let jobs = std::thread::available_parallelism().map_or(2, |n| n.get());
    std::fs::create_dir_all(&o.dir)?;
    let trash = o.dir.join("trash");
    std::fs::create_dir_all(&trash)?;
    let mut rows: Vec<Row> = Vec::new();
    for &n in &o.sizes {
        let size = Size {
            clusters: n,
            components: o.components,
            resources: o.resources,
        };
        let dir = o.dir.join(format!("n{n}"));
        if dir.exists() {
            std::fs::rename(&dir, trash.join(format!("n{n}-{}", std::process::id())))?;
        }
        eprintln!(
            "bench: generating N={n} ({} resources)",
            n * o.components * o.resources
        );
        let fleet_dir = dir.join("fleet");
        synth::write(&fleet_dir, &synth::fleet(size, false))?;
        let repo = dir.join("repo");
        synth::write(&repo.join("fleet"), &synth::fleet(size, false))?;
        git(&repo, &["init", "-q", "-b", "main"])?;
        git(&repo, &["add", "-A"])?;
        git(&repo, &["commit", "-q", "-m", "base"])?;
        synth::write(&repo.join("fleet"), &synth::fleet(size, true))?;
        git(&repo, &["commit", "-q", "-am", "prod log level"])?;

        if o.in_memory_only {
            in_memory(&mut rows, n, &fleetc, &dir, &repo, o.runs)?;
            print_rows(&rows, n);
            continue;
        }
        if o.sharded_only {
            let c = CiPath {
                n,
                fleetc: &fleetc,
                dir: &dir,
                repo: &repo,
                runs: o.runs,
                shards: o.shards,
                render_secs: 0.0,
                render_peak: 0,
            };
            sharded(&mut rows, &c, &mut branch_names())?;
            print_rows(&rows, n);
            continue;
        }
        // Cold renders, each paired with a cp -r of its own output.
        let (mut render, mut cp, mut ratio) = (Vec::new(), Vec::new(), Vec::new());
        let mut peak: u64 = 0;
        for k in 0..o.runs {
            let out = dir.join(format!("out-{k}"));
            let t = timed(
                &[&fleetc, "render", "fleet", "-o", &out.to_string_lossy()],
                &dir,
                None,
            )?;
            if t.code != 0 {
                bail!("fleetc render failed at N={n}");
            }
            let c = timed(
                &[
                    "cp",
                    "-r",
                    &out.to_string_lossy(),
                    &dir.join(format!("cp-{k}")).to_string_lossy(),
                ],
                &dir,
                None,
            )?;
            peak = peak.max(t.peak_kib);
            ratio.push(t.secs / c.secs.max(0.001));
            render.push(t.secs);
            cp.push(c.secs);
        }
        let files = walk_count(&dir.join("out-0"));
        let render_med = median(&mut render);
        rows.push(Row {
            n,
            what: "fleetc render (cold, to disk)",
            secs: render_med,
            runs: o.runs,
            peak_mib: Some(peak as f64 / 1024.0),
            note: format!(
                "{files} files; {:.2}× its paired cp -r (median of pairs)",
                median(&mut ratio)
            ),
        });
        rows.push(Row {
            n,
            what: "cp -r of the rendered tree",
            secs: median(&mut cp),
            runs: o.runs,
            peak_mib: None,
            note: String::new(),
        });

        // `validate`, and the same fleet with 24 admission policies of the
        // three engines (audit: their findings are warnings) evaluated on
        // every cluster: timed in pairs, one right after the other, so that
        // the ratio (the median of the pairs') does not ride the machine's
        // drift (BENCHMARKING.md); at least 7 pairs, as they are short.
        let mut with_policies = synth::fleet(size, false);
        crate::synth_policies::add(&mut with_policies);
        synth::write(&dir.join("fleet-policies"), &with_policies)?;
        let admission_pairs = paired(
            o.runs.max(7),
            &[&fleetc, "validate", "fleet"],
            &[&fleetc, "validate", "fleet-policies"],
            &dir,
        )?;
        let validate = admission_pairs.a;
        let admission = admission_pairs.b;
        for (what, secs, peak) in [
            ("fleetc validate", validate, admission_pairs.a_peak),
            (
                "fleetc validate (with admission policies)",
                admission,
                admission_pairs.b_peak,
            ),
        ] {
            rows.push(Row {
                n,
                what,
                secs,
                runs: admission_pairs.runs,
                peak_mib: Some(peak as f64 / 1024.0),
                note: String::new(),
            });
        }
        let mut measure =
            |what: &'static str, cmd: &[&str], cwd: &Path, want: i32| -> Result<f64> {
                let mut secs = Vec::new();
                let mut pk = 0;
                for _ in 0..o.runs {
                    let t = timed(cmd, cwd, None)?;
                    if t.code != want {
                        bail!("{what} exited {} at N={n}, expected {want}", t.code);
                    }
                    pk = pk.max(t.peak_kib);
                    secs.push(t.secs);
                }
                let m = median(&mut secs);
                rows.push(Row {
                    n,
                    what,
                    secs: m,
                    runs: o.runs,
                    peak_mib: Some(pk as f64 / 1024.0),
                    note: String::new(),
                });
                Ok(m)
            };
        let out0 = dir.join("out-0").to_string_lossy().into_owned();
        let check = measure(
            "fleetc render --check",
            &[&fleetc, "render", "fleet", "--check", "-o", &out0],
            &dir,
            0,
        )?;
        let rerender = measure(
            "fleetc render (up to date)",
            &[&fleetc, "render", "fleet", "-o", &out0],
            &dir,
            0,
        )?;
        let diff = measure(
            "fleetc diff (two revisions)",
            &[
                &fleetc, "diff", "fleet", "--base", "HEAD~1", "--head", "HEAD", "--format", "json",
            ],
            &repo,
            1,
        )?;
        // A changed input (the prod log level, flipped each run): the tree is
        // rendered again into a staging directory, swapped in, and the old
        // one deleted; all of it is timed (BENCHMARKING.md: deletes slow the
        // next creations on this file system).
        let (mut changed, mut pk) = (Vec::new(), 0);
        for k in 0..o.runs {
            synth::write(&fleet_dir, &synth::fleet(size, k % 2 == 0))?;
            let t = timed(&[&fleetc, "render", "fleet", "-o", &out0], &dir, None)?;
            if t.code != 0 {
                bail!("fleetc render (changed input) failed at N={n}");
            }
            pk = pk.max(t.peak_kib);
            changed.push(t.secs);
        }
        synth::write(&fleet_dir, &synth::fleet(size, false))?;
        let changed = median(&mut changed);
        rows.push(Row {
            n,
            what: "fleetc render (changed input, updates the tree)",
            secs: changed,
            runs: o.runs,
            peak_mib: Some(pk as f64 / 1024.0),
            note: format!(
                "a third of the clusters changed; {:.2}× cold render (target ≤ 0.60); includes deleting their old files",
                changed / render_med
            ),
        });
        ci_path(
            &mut rows,
            &CiPath {
                n,
                fleetc: &fleetc,
                dir: &dir,
                repo: &repo,
                runs: o.runs,
                shards: o.shards,
                render_secs: render_med,
                render_peak: peak,
            },
        )?;
        annotate(
            &mut rows,
            n,
            "fleetc validate (with admission policies)",
            format!(
                "{} policies (Kyverno, Gatekeeper, ValidatingAdmissionPolicy); {:.2}× validate without them, median of {} pairs ({:.2}–{:.2}; target ≤ 2×)",
                crate::synth_policies::count(),
                admission_pairs.ratio,
                admission_pairs.runs,
                admission_pairs.ratio_min,
                admission_pairs.ratio_max,
            ),
        );
        annotate(
            &mut rows,
            n,
            "fleetc render --check",
            format!("{:.2}× cold render", check / render_med),
        );
        annotate(
            &mut rows,
            n,
            "fleetc render (up to date)",
            format!("{:.0}% of cold render", 100.0 * rerender / render_med),
        );

        if n <= o.kustomize_max {
            let twin = dir.join("kustomize");
            synth::write(&twin, &synth::kustomize(size))?;
            eprintln!("bench: kubectl kustomize over {n} clusters, {jobs} at a time");
            let secs = kustomize_loop(&twin, &dir.join("kustomize-out"), n, jobs)?;
            rows.push(Row {
                n,
                what: "kubectl kustomize loop (parallel)",
                secs,
                runs: 1,
                peak_mib: None,
                note: format!(
                    "{:.0}× cold render; {:.0}× validate; {:.0}× diff",
                    secs / render_med,
                    secs / validate.max(0.001),
                    secs / diff.max(0.001)
                ),
            });
        }
        print_rows(&rows, n);
    }
    scaling(&mut rows);
    let table = table(&rows);
    let cpus = jobs;
    let report = format!(
        "machine: {cpus} cores; kubectl: {}\nfleet: {} components × {} resources per cluster\n\n{table}",
        kubectl_version(),
        o.components,
        o.resources
    );
    std::fs::write(o.dir.join("results.md"), &report)?;
    println!("{report}");
    eprintln!(
        "bench: results in {}; old trees are in {} (delete them when nothing is timed)",
        o.dir.join("results.md").display(),
        trash.display()
    );
    Ok(())
}

/// `validate` and `diff` alone (`--in-memory-only`), with their peak RSS.
fn in_memory(
    rows: &mut Vec<Row>,
    n: usize,
    f: &str,
    dir: &Path,
    repo: &Path,
    runs: usize,
) -> Result<()> {
    let cmds: [(&'static str, Vec<&str>, &Path, i32); 2] = [
        ("fleetc validate", vec![f, "validate", "fleet"], dir, 0),
        (
            "fleetc diff (two revisions)",
            vec![
                f, "diff", "fleet", "--base", "HEAD~1", "--head", "HEAD", "--format", "json",
            ],
            repo,
            1,
        ),
    ];
    for (what, cmd, cwd, want) in cmds {
        let (mut secs, mut peak) = (Vec::new(), 0);
        for _ in 0..runs {
            let t = timed(&cmd, cwd, None)?;
            if t.code != want {
                bail!("{what} exited {} at N={n}, expected {want}", t.code);
            }
            peak = peak.max(t.peak_kib);
            secs.push(t.secs);
        }
        rows.push(Row {
            n,
            what,
            secs: median(&mut secs),
            runs,
            peak_mib: Some(peak as f64 / 1024.0),
            note: String::new(),
        });
    }
    Ok(())
}

/// What the CI path's rows are measured against.
struct CiPath<'a> {
    n: usize,
    fleetc: &'a str,
    dir: &'a Path,
    /// Two commits: the synthetic fleet, then its prod log level changed
    /// (a third of the clusters).
    repo: &'a Path,
    runs: usize,
    /// Shards of the sharded rows (`--shards`).
    shards: usize,
    /// The cold render the publish rows are measured against (unused by
    /// [`sharded`]).
    render_secs: f64,
    render_peak: u64,
}

fn rev_parse(repo: &Path, rev: &str) -> Result<String> {
    let o = Command::new("git")
        .args(["rev-parse", rev])
        .current_dir(repo)
        .output()?;
    if !o.status.success() {
        bail!("git rev-parse {rev} failed");
    }
    Ok(String::from_utf8_lossy(&o.stdout).trim().to_string())
}

/// `publish` (first, after a change on a third of the clusters, with
/// nothing changed) and a sharded render merged by `publish --from`,
/// against a cold render, a first publish, `validate` and one publish.
fn ci_path(rows: &mut Vec<Row>, c: &CiPath<'_>) -> Result<()> {
    let (n, f, repo) = (c.n, c.fleetc, c.repo);
    let pairs = c.runs.max(5);
    let mut next = branch_names();
    // First publish (a new branch each time, HEAD~1), paired with a
    // publish of HEAD onto a branch reset to the first publish's commit.
    let (mut first, mut after, mut ratios, mut fp, mut ap) = (vec![], vec![], vec![], 0, 0);
    for _ in 0..pairs {
        let b = next();
        let t = timed(
            &[f, "publish", "fleet", "--rev", "HEAD~1", "--branch", &b],
            repo,
            None,
        )?;
        let base = rev_parse(repo, &b)?;
        git(repo, &["update-ref", "refs/heads/bench-after", &base])?;
        let u = timed(
            &[f, "publish", "fleet", "--branch", "bench-after"],
            repo,
            None,
        )?;
        if t.code != 0 || u.code != 0 {
            bail!("fleetc publish failed at N={n}");
        }
        (fp, ap) = (fp.max(t.peak_kib), ap.max(u.peak_kib));
        ratios.push(u.secs / t.secs.max(0.001));
        first.push(t.secs);
        after.push(u.secs);
    }
    let first_med = median(&mut first);
    rows.push(Row {
        n,
        what: "fleetc publish (first)",
        secs: first_med,
        runs: pairs,
        peak_mib: Some(fp as f64 / 1024.0),
        note: format!(
            "{:.2}× cold render's median (target ≤ 1.5); peak {:.2}× render's (target ≤ 2)",
            first_med / c.render_secs.max(0.001),
            fp as f64 / c.render_peak.max(1) as f64
        ),
    });
    rows.push(Row {
        n,
        what: "fleetc publish (a third of the clusters changed)",
        secs: median(&mut after),
        runs: pairs,
        peak_mib: Some(ap as f64 / 1024.0),
        note: format!(
            "against the first publish, median of {pairs} pairs: {}; target ≤ 0.50)",
            spread(&mut ratios)
        ),
    });
    // Nothing changed: bench-after holds HEAD's render.
    let noop = paired(
        pairs,
        &[f, "validate", "fleet", "--rev", "HEAD"],
        &[f, "publish", "fleet", "--branch", "bench-after"],
        repo,
    )?;
    rows.push(Row {
        n,
        what: "fleetc publish (nothing changed)",
        secs: noop.b,
        runs: pairs,
        peak_mib: Some(noop.b_peak as f64 / 1024.0),
        note: format!(
            "{:.2}× validate of the same revision ({:.2} s), median of pairs (target ≤ 1)",
            noop.ratio, noop.a
        ),
    });
    sharded(rows, c, &mut next)
}

/// `--shards` shards rendered one after another, then merged by
/// `publish --from`, paired with one publish of the same revision: the
/// merge's cost, and the same commit id. Each run's shard trees are removed
/// once merged (at N = 100,000 two sets do not fit on a small disk).
fn sharded(rows: &mut Vec<Row>, c: &CiPath<'_>, next: &mut dyn FnMut() -> String) -> Result<()> {
    let shards = c.shards;
    let (n, f, repo) = (c.n, c.fleetc, c.repo);
    let (mut shard_max, mut shard_peak, mut one_secs, mut one_peak) = (0.0f64, 0, vec![], 0);
    let (mut shard_secs, mut merge, mut ratios, mut mp) = (vec![], vec![], vec![], 0);
    for run in 0..c.runs {
        let mut total = 0.0;
        let mut dirs = Vec::new();
        for k in 1..=shards {
            let out = c.dir.join(format!("shard-{run}-{k}"));
            let out = out.to_string_lossy().into_owned();
            let shard = format!("{k}/{shards}");
            let t = timed(
                &[
                    f, "render", "fleet", "--rev", "HEAD", "--shard", &shard, "-o", &out,
                ],
                repo,
                None,
            )?;
            if t.code != 0 {
                bail!("fleetc render --shard {shard} failed at N={n}");
            }
            total += t.secs;
            shard_max = shard_max.max(t.secs);
            shard_peak = shard_peak.max(t.peak_kib);
            dirs.push(out);
        }
        shard_secs.push(total);
        let (one, merged) = (next(), next());
        let t = timed(&[f, "publish", "fleet", "--branch", &one], repo, None)?;
        let mut cmd = vec![f, "publish", "fleet", "--branch", merged.as_str()];
        for d in &dirs {
            cmd.extend(["--from", d.as_str()]);
        }
        let m = timed(&cmd, repo, None)?;
        if t.code != 0 || m.code != 0 {
            bail!("fleetc publish (one, or merged) failed at N={n}");
        }
        if rev_parse(repo, &one)? != rev_parse(repo, &merged)? {
            bail!("N={n}: the merged commit differs from one publish's");
        }
        mp = mp.max(m.peak_kib);
        one_peak = one_peak.max(t.peak_kib);
        ratios.push(m.secs / t.secs.max(0.001));
        merge.push(m.secs);
        one_secs.push(t.secs);
        for d in &dirs {
            std::fs::remove_dir_all(d)?;
        }
    }
    rows.push(Row {
        n,
        what: "fleetc render --shard (every shard, one after another)",
        secs: median(&mut shard_secs),
        runs: c.runs,
        peak_mib: Some(shard_peak as f64 / 1024.0),
        note: format!("{shards} shards: the sum of their times (slowest {shard_max:.1} s)"),
    });
    rows.push(Row {
        n,
        what: "fleetc publish (one machine)",
        secs: median(&mut one_secs),
        runs: c.runs,
        peak_mib: Some(one_peak as f64 / 1024.0),
        note: "what the merge is paired with".into(),
    });
    rows.push(Row {
        n,
        what: "fleetc publish --from (merge of the shards)",
        secs: median(&mut merge),
        runs: c.runs,
        peak_mib: Some(mp as f64 / 1024.0),
        note: format!(
            "{shards} shards; against one publish, median of pairs: {}; target ≤ 0.30); same commit id",
            spread(&mut ratios)
        ),
    });
    Ok(())
}

/// Each `validate` and `diff` row beside the same row at a tenth of its N
/// (issue 20: N = 100,000 within 12× N = 10,000, peak RSS ≤ 6 GiB).
fn scaling(rows: &mut [Row]) {
    const SCALED: [&str; 3] = [
        "fleetc validate",
        "fleetc diff (two revisions)",
        "fleetc validate (with admission policies)",
    ];
    for i in 0..rows.len() {
        let (n, what) = (rows[i].n, rows[i].what);
        if !SCALED.contains(&what) || n < 100_000 || n % 10 != 0 {
            continue;
        }
        let Some(small) = rows.iter().find(|r| r.n == n / 10 && r.what == what) else {
            continue;
        };
        let x = rows[i].secs / small.secs.max(0.001);
        let note = format!(
            "{x:.1}× N = {} (target ≤ 12×); peak RSS target ≤ 6 GiB",
            n / 10
        );
        rows[i].note = if rows[i].note.is_empty() {
            note
        } else {
            format!("{}; {note}", rows[i].note)
        };
    }
}

fn annotate(rows: &mut [Row], n: usize, what: &str, note: String) {
    if let Some(r) = rows.iter_mut().find(|r| r.n == n && r.what == what) {
        r.note = note;
    }
}

fn walk_count(dir: &Path) -> usize {
    let mut n = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        if let Ok(rd) = std::fs::read_dir(&d) {
            for e in rd.flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    stack.push(e.path());
                } else {
                    n += 1;
                }
            }
        }
    }
    n
}

fn kubectl_version() -> String {
    Command::new("kubectl")
        .args(["version", "--client"])
        .output()
        .ok()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .map(str::trim)
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_else(|| "not found".into())
}

fn table(rows: &[Row]) -> String {
    let mut s = String::from("| N | measure | median (s) | runs | peak RSS (MiB) | notes |\n|---:|---|---:|---:|---:|---|\n");
    for r in rows {
        s.push_str(&format!(
            "| {} | {} | {:.3} | {} | {} | {} |\n",
            r.n,
            r.what,
            r.secs,
            r.runs,
            r.peak_mib.map_or("–".into(), |m| format!("{m:.0}")),
            r.note
        ));
    }
    s
}

fn print_rows(rows: &[Row], n: usize) {
    for r in rows.iter().filter(|r| r.n == n) {
        eprintln!(
            "  N={:<6} {:<36} {:>9.3} s  {}",
            r.n, r.what, r.secs, r.note
        );
    }
}
