//! `cargo xtask profile [--size N] [--dir D]`: where the time of one render
//! goes, stage by stage, through the library (read, parse into the model,
//! validate, resolve, render, serialise, write). Single process, one run;
//! the stage boundaries are the ones `fleetc::driver::compile` and `emit::write` have.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use fleetc::load::model::Format;

use crate::synth::{self, Size};

pub fn run(args: &[String]) -> Result<()> {
    let mut n = 1000;
    let mut dir = crate::root().join("target/bench/profile");
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let v = it.next().with_context(|| format!("{a} needs a value"))?;
        match a.as_str() {
            "--size" => n = v.parse()?,
            "--dir" => dir = PathBuf::from(v),
            other => bail!("unknown argument {other}"),
        }
    }
    let fleet = dir.join(format!("fleet-{n}"));
    if !fleet.exists() {
        synth::write(
            &fleet,
            &synth::fleet(
                Size {
                    clusters: n,
                    components: 20,
                    resources: 6,
                },
                false,
            ),
        )?;
    }
    let mut rows: Vec<(&str, f64)> = Vec::new();
    let mut t = Instant::now();
    let mut lap = |what: &'static str, rows: &mut Vec<(&str, f64)>| {
        rows.push((what, t.elapsed().as_secs_f64()));
        t = Instant::now();
    };
    let fs = fleetc::source::read_dir(&fleet, &Default::default())
        .map_err(|d| anyhow::anyhow!("{}", d.render(false)))?;
    lap("read files", &mut rows);
    let opts = fleetc::driver::Options::new(crate::today());
    let (repo, diags) = fleetc::load::load(&fs, &opts.budget);
    if diags.has_errors() {
        bail!("{}", diags.render(false));
    }
    lap("parse + schema (load)", &mut rows);
    let format = repo.fleet.as_ref().map_or(Format::Flux, |f| f.format);
    let _ = fleetc::validate::validate(
        &repo,
        &fleetc::validate::Settings {
            format,
            format_overridden: false,
            clusters: &[],
            max_cluster_units: opts.max_cluster_units,
        },
    );
    lap("validate", &mut rows);
    let (resolved, _) = fleetc::resolve::resolve(&repo, &opts.today);
    lap("resolve", &mut rows);
    let (rendered, d) = fleetc::render::render(
        &fs,
        &repo,
        &resolved,
        &opts.budget,
        &opts.template_limits,
        format,
    );
    if d.has_errors() {
        bail!("{}", d.render(false));
    }
    lap("render (templates, parse, process)", &mut rows);
    let tree = fleetc::emit::tree(
        &fs,
        (&repo, &resolved),
        &rendered,
        format,
        Some(fleetc::emit::Stamp {
            source_rev: None,
            inputs_digest: "",
        }),
        Default::default(),
    );
    lap("serialise (tree, inventory)", &mut rows);
    let out = dir.join(format!("out-{n}-{}", std::process::id()));
    fleetc::emit::write::write_dir(&out, &tree).map_err(|e| anyhow::anyhow!("{e}"))?;
    lap("write (staging + rename)", &mut rows);
    drop((tree, rendered, resolved, repo, fs));
    lap("free", &mut rows);
    let total: f64 = rows.iter().map(|r| r.1).sum();
    println!("N={n}: {} clusters × 20 components × 6 resources", n);
    for (what, s) in &rows {
        println!("  {what:<38} {s:>7.3} s  {:>5.1}%", 100.0 * s / total);
    }
    println!("  {:<38} {total:>7.3} s", "total");
    // What `fleetc render` runs: the same stages, a batch of clusters at a
    // time, each cluster written by the worker that rendered it.
    let t = Instant::now();
    let fs = fleetc::source::read_dir(&fleet, &Default::default())
        .map_err(|d| anyhow::anyhow!("{}", d.render(false)))?;
    let planned =
        fleetc::driver::plan(&fs, &opts).map_err(|d| anyhow::anyhow!("{}", d.render(false)))?;
    let out2 = dir.join(format!("out-{n}-{}-streamed", std::process::id()));
    let staging = fleetc::emit::write::Staging::new(&out2).map_err(|e| anyhow::anyhow!("{e}"))?;
    let (s, d) = fleetc::driver::render_to(&fs, planned, &opts, &staging)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    if d.has_errors() {
        bail!("{}", d.render(false));
    }
    staging.commit().map_err(|e| anyhow::anyhow!("{e}"))?;
    let streamed = t.elapsed().as_secs_f64();
    std::mem::forget(s);
    println!(
        "  {:<38} {streamed:>7.3} s  (read to committed tree; no free)",
        "streamed (what `fleetc render` runs)"
    );
    std::fs::remove_dir_all(&out)?;
    std::fs::remove_dir_all(&out2)?;
    Ok(())
}
