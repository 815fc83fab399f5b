//! `fleetc render`: stream the fleet into a staging directory swapped in at
//! the end, or (`--check`) compare it file by file with the output tree.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use fleetc::diag::{plural, Code, Diagnostic};
use fleetc::driver::shard::{self, Shard};
use fleetc::driver::{Options, Planned};
use fleetc::emit::write::Sink as _;
use fleetc::emit::{
    self,
    write::{self, Difference},
};
use fleetc::load::model::Format;
use fleetc::source;

use crate::exit::{Exit, Failure};
use crate::{input, Ctx};

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum FormatArg {
    Flux,
    Argocd,
    Plain,
}

impl From<FormatArg> for Format {
    fn from(f: FormatArg) -> Format {
        match f {
            FormatArg::Flux => Format::Flux,
            FormatArg::Argocd => Format::ArgoCd,
            FormatArg::Plain => Format::Plain,
        }
    }
}

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    fleet: input::Fleet,
    /// Output directory (created by fleetc; an existing one must carry fleetc's marker).
    #[arg(short, long, value_name = "OUT")]
    output: PathBuf,
    /// Output format, overriding `Fleet.spec.output.format`.
    #[arg(long, value_enum)]
    format: Option<FormatArg>,
    /// Render only this cluster (repeatable).
    #[arg(long = "cluster", value_name = "C")]
    clusters: Vec<String>,
    /// Render in memory and compare with OUT: exit 1 and list the differing paths.
    #[arg(long)]
    check: bool,
    /// Worker threads (default: one per core).
    #[arg(long, value_name = "N")]
    jobs: Option<usize>,
    /// Render only shard K of N (clusters split by name, stably) into OUT,
    /// with the `shard.json` that `--from` merges.
    #[arg(long, value_name = "K/N", value_parser = Shard::parse, conflicts_with_all = ["clusters", "from"])]
    shard: Option<Shard>,
    /// Assemble OUT from the directories `render --shard K/N` wrote
    /// (repeatable: every shard once) instead of rendering.
    #[arg(long = "from", value_name = "DIR", conflicts_with_all = ["clusters", "check"])]
    from: Vec<PathBuf>,
}

pub fn run(ctx: &Ctx, a: Args) -> Result<Exit, Failure> {
    if let Some(n) = a.jobs {
        if n == 0 {
            return Err(Failure::usage("--jobs must be at least 1"));
        }
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global()
            .map_err(|e| {
                Failure::failed(Diagnostic::error(
                    Code::Io,
                    format!("cannot start {n} worker threads: {e}"),
                ))
            })?;
    }
    refuse_output(&a.fleet.repo, &a.output)?;
    // A tree whose recorded inputs equal this compile's is not rendered
    // again (`--check` compares, see `check`).
    let reuse = if a.check {
        None
    } else {
        write::recorded_digest(&a.output)
    };
    let opts = Options {
        format: a.format.map(Format::from),
        clusters: a.clusters,
        shard: a.shard,
        ..ctx.options()
    };
    let (fs, mut planned, opts) = input::plan(ctx, &a.fleet.repo, a.fleet.rev.as_deref(), opts)?;
    if a.shard.is_some_and(|s| s.index != 1) {
        // What spans the fleet is reported once: by shard 1, and by the merge.
        planned.diags.items.retain(Diagnostic::is_error);
    }
    let out = &a.output;
    if reuse.as_deref() == Some(planned.inputs_digest.as_str()) && !planned.diags.has_errors() {
        if ctx.ui.report(&planned.diags) {
            return Err(Failure::reported());
        }
        ctx.ui.say(&format!("{} is up to date", out.display()));
        return Ok(Exit::Success);
    }
    if !a.from.is_empty() {
        return merge(ctx, (fs, &planned, &opts), &a.from, out);
    }
    if a.check {
        check(ctx, fs, planned, &opts, out)
    } else {
        update(ctx, fs, planned, &opts, out)
    }
}

/// `--from`: the shards' outputs assembled into `out`, replaced as a whole.
fn merge(
    ctx: &Ctx,
    (fs, planned, opts): (&'static source::FileSet, &Planned, &Options),
    from: &[PathBuf],
    out: &Path,
) -> Result<Exit, Failure> {
    let shards = from
        .iter()
        .map(|d| shard::read(d))
        .collect::<Result<Vec<_>, _>>()?;
    let staging = write::Staging::new(out)?;
    let (m, diags) = shard::merge(fs, planned, opts, &shards, &staging, true)?;
    if ctx.ui.report(&diags) {
        return Err(Failure::reported());
    }
    let files = staging.commit()?;
    ctx.ui.say(&format!(
        "merged {}: {}, {} ({}) into {}",
        plural(shards.len(), "shard", "shards"),
        plural(m.clusters, "cluster", "clusters"),
        plural(m.resources, "resource", "resources"),
        plural(files, "file", "files"),
        out.display()
    ));
    Ok(Exit::Success)
}

/// `--check`: compare with `out`. A tree whose recorded state can be
/// trusted has only the clusters whose digest changed compared.
fn check(
    ctx: &Ctx,
    fs: &'static source::FileSet,
    planned: Planned,
    opts: &Options,
    out: &Path,
) -> Result<Exit, Failure> {
    let trusted = write::trusted(out).filter(|r| r.format == planned.format.as_str());
    let format = planned.format;
    let checker = write::Checker::new(out)?;
    let s = input::render_to(ctx, fs, planned, opts, &checker, trusted.as_ref())?;
    let kept: Vec<String> = s
        .kept
        .iter()
        .flat_map(|c| emit::cluster_paths(format, c))
        .collect();
    let diffs = checker.finish(&kept)?;
    if diffs.is_empty() {
        let trusting = if s.kept.is_empty() {
            String::new()
        } else {
            format!(
                " ({} compared; {} with unchanged inputs trusted from {})",
                plural(s.clusters, "cluster", "clusters"),
                plural(s.kept.len(), "cluster", "clusters"),
                out.join("inventory.json").display()
            )
        };
        ctx.ui
            .say(&format!("{} is up to date{trusting}", out.display()));
        return Ok(Exit::Success);
    }
    for d in &diffs {
        let (what, p) = match d {
            Difference::Changed(p) => ("changed", p),
            Difference::Missing(p) => ("missing", p),
            Difference::Extra(p) => ("extra", p),
        };
        ctx.ui.result(&format!("{what} {}", out.join(p).display()));
    }
    eprintln!(
        "error: {} is stale ({} {}); run `fleetc render -o {}`",
        out.display(),
        plural(diffs.len(), "path", "paths"),
        if diffs.len() == 1 {
            "differs"
        } else {
            "differ"
        },
        out.display()
    );
    Ok(Exit::Differences)
}

/// Write the tree into `out`: a tree fleetc wrote in this format is
/// updated in place (clusters whose digest is unchanged are kept as they
/// are), anything else replaced as a whole.
fn update(
    ctx: &Ctx,
    fs: &'static source::FileSet,
    planned: Planned,
    opts: &Options,
    out: &Path,
) -> Result<Exit, Failure> {
    let recorded = write::recorded(out).filter(|r| r.format == planned.format.as_str());
    let names: BTreeSet<String> = planned
        .resolved
        .clusters
        .iter()
        .map(|c| c.name.clone())
        .collect();
    let format = planned.format;
    let shard = opts.shard;
    if let Some(k) = shard {
        return render_shard(ctx, (fs, planned, opts), k, out);
    }
    let Some(rec) = &recorded else {
        let staging = write::Staging::new(out)?;
        let s = input::render_to(ctx, fs, planned, opts, &staging, None)?;
        let files = staging.commit()?;
        let what = counts(s, plural(files, "file", "files"));
        ctx.ui
            .say(&format!("rendered {what} into {}", out.display()));
        return Ok(Exit::Success);
    };
    let update = write::Update::new(out)?;
    let s = input::render_to(ctx, fs, planned, opts, &update, Some(rec))?;
    // Every cluster rendered, gone, or left unsettled by a killed run.
    let mut replaced: BTreeSet<String> = names
        .union(&rec.clusters.keys().cloned().collect())
        .cloned()
        .collect();
    replaced.extend(rec.unsettled.iter().cloned());
    replaced.retain(|c| !s.kept.contains(c));
    let mut roots: Vec<String> = replaced
        .iter()
        .flat_map(|c| emit::cluster_paths(format, c))
        .collect();
    roots.extend(emit::fleet_paths(format));
    let files = update.commit(&roots, &replaced)?;
    let what = counts(s, format!("{} written", plural(files, "file", "files")));
    ctx.ui.say(&format!(
        "rendered {what} into {}; {} unchanged",
        out.display(),
        plural(s.kept.len(), "cluster", "clusters"),
    ));
    Ok(Exit::Success)
}

/// `--shard K/N`: the shard's clusters into a new tree at `out`, with the
/// same files as git objects (a pack under `out/objects/`, which `publish
/// --from` takes as it is) and `shard.json`.
fn render_shard(
    ctx: &Ctx,
    (fs, planned, opts): (&'static source::FileSet, Planned, &Options),
    k: Shard,
    out: &Path,
) -> Result<Exit, Failure> {
    use fleetc::git::pack::{PackWriter, TreeSink};
    let format = planned.format;
    let staging = write::Staging::new(out)?;
    let side = out.with_file_name(format!(
        ".{}.fleetc-objects-{}",
        out.file_name().and_then(|n| n.to_str()).unwrap_or("out"),
        std::process::id()
    ));
    struct Gone(PathBuf);
    impl Drop for Gone {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    let _gone = Gone(side.clone());
    let pack = PackWriter::in_dir(&side)?;
    let objects = TreeSink::new(&pack, None);
    let s = input::render_to(
        ctx,
        fs,
        planned,
        opts,
        &write::Tee(&staging, &objects),
        None,
    )?;
    let slots = objects.finish()?;
    let name = pack.finish()?;
    let mut file = shard::ShardFile::new(k, &s.applicable, &s.matched);
    if let Some(name) = name {
        let owned: BTreeSet<String> = s
            .kept
            .iter()
            .chain(s.resolved.clusters.iter().map(|c| &c.name))
            .flat_map(|c| emit::cluster_paths(format, c))
            .collect();
        let slots = slots
            .into_iter()
            .filter(|(p, _)| owned.contains(p))
            .map(|(p, (kind, id))| {
                let kind = if kind == gix::objs::tree::EntryKind::Tree {
                    "tree"
                } else {
                    "blob"
                };
                (p, (kind.to_string(), id.to_hex().to_string()))
            })
            .collect();
        for ext in ["pack", "idx"] {
            let from = side.join(format!("{name}.{ext}"));
            let bytes = std::fs::read(&from).map_err(|e| {
                Failure::failed(Diagnostic::error(
                    Code::Io,
                    format!("cannot read {}: {e}", from.display()),
                ))
            })?;
            staging.put(&[(format!("objects/{name}.{ext}"), bytes)])?;
        }
        file.objects = Some(shard::ShardObjects { pack: name, slots });
    }
    staging.put(&[(shard::ShardFile::PATH.to_string(), file.to_bytes())])?;
    let files = staging.commit()?;
    let what = counts(s, plural(files, "file", "files"));
    ctx.ui.say(&format!(
        "rendered shard {k}: {what} into {}",
        out.display()
    ));
    Ok(Exit::Success)
}

/// "N clusters, M resources (`files`)": what a render to disk says it did.
fn counts(s: &fleetc::driver::Streamed, files: String) -> String {
    format!(
        "{}, {} ({files})",
        plural(s.clusters, "cluster", "clusters"),
        plural(s.resources, "resource", "resources"),
    )
}

/// `-o` may not be the repository, one of its ancestors, or the file-system root.
fn refuse_output(repo: &Path, out: &Path) -> Result<(), Failure> {
    let (Some(r), Some(o)) = (write::lexical_absolute(repo), write::lexical_absolute(out)) else {
        return Ok(());
    };
    let r = r.canonicalize().unwrap_or(r);
    if o.parent().is_none() || r.starts_with(&o) {
        return Err(Failure::invalid(
            Diagnostic::error(
                Code::OutputRefused,
                format!(
                    "refusing to write to {}: it is the repository or contains it",
                    out.display()
                ),
            )
            .help("render into a directory of its own, e.g. -o out/"),
        ));
    }
    Ok(())
}
