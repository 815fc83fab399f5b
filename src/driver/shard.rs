//! Sharding a fleet across CI runners: `--shard K/N` renders the clusters
//! of shard K into a directory of its own, and [`merge`] assembles N such
//! directories into the tree (and so the commit) one machine would have
//! rendered, byte for byte, computing what spans the fleet once.
//!
//! Clusters go to shards by rendezvous hashing: each cluster takes the
//! shard with the highest hash of (its name, the shard). A cluster added
//! or removed moves no other cluster; going from N to N+1 shards moves
//! about 1/(N+1) of them.

use std::collections::{BTreeMap, BTreeSet};

use super::{Options, Planned};
use crate::diag::{Code, Diagnostic, Diags};
use crate::emit::recorded::Recorded;
use crate::emit::write::{Sink, WriteError};
use crate::resolve::PatchId;
use crate::{emit, render, source};

/// Shard `index` of `count` (1-based).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl Shard {
    /// The most shards a fleet may be split into.
    pub const MAX: usize = 1000;

    /// `K/N`, 1 ≤ K ≤ N ≤ [`Shard::MAX`].
    pub fn parse(s: &str) -> Result<Shard, String> {
        let bad = || {
            format!(
                "`{s}` is not a shard: write K/N, e.g. 2/4 (1 ≤ K ≤ N ≤ {})",
                Shard::MAX
            )
        };
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let (index, count): (usize, usize) = (
            k.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        if index == 0 || index > count || count > Shard::MAX {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }

    /// The shard (1-based) `cluster` belongs to among `count`.
    pub fn of(cluster: &str, count: usize) -> usize {
        use sha2::{Digest, Sha256};
        (1..=count.max(1))
            .max_by_key(|k| {
                let mut h = Sha256::new();
                h.update(cluster.as_bytes());
                h.update([0]);
                h.update(k.to_string().as_bytes());
                let d = h.finalize();
                (
                    u64::from_be_bytes(d[..8].try_into().unwrap_or_default()),
                    *k,
                )
            })
            .unwrap_or(1)
    }

    /// Does this shard render `cluster`?
    pub fn holds(&self, cluster: &str) -> bool {
        Shard::of(cluster, self.count) == self.index
    }
}

/// What a shard directory records besides its clusters' files
/// (`shard.json`; its `inventory.json` holds their entries).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct ShardFile {
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    pub kind: String,
    /// `K/N`.
    pub shard: String,
    /// The patches that apply to the shard's clusters, and those that
    /// matched there: whether a patch matches nothing is decided over
    /// every shard, once, by the merge.
    pub applicable: Vec<PatchId>,
    pub matched: Vec<PatchId>,
    /// The shard's files as git objects, when it wrote them: a pack under
    /// `objects/` and, per cluster path (`clusters/<c>`,
    /// `bootstrap/<c>.yaml`), its kind (`tree` or `blob`) and object id.
    /// `publish --from` then takes the objects as they are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub objects: Option<ShardObjects>,
}

/// See [`ShardFile::objects`].
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct ShardObjects {
    /// `pack-<checksum>`: `objects/<pack>.pack` and `.idx`.
    pub pack: String,
    pub slots: BTreeMap<String, (String, String)>,
}

impl ShardFile {
    pub const PATH: &'static str = "shard.json";

    pub fn new(shard: Shard, applicable: &BTreeSet<PatchId>, matched: &BTreeSet<PatchId>) -> Self {
        ShardFile {
            api_version: "fleetc.dev/v1alpha1".into(),
            kind: "Shard".into(),
            shard: shard.to_string(),
            applicable: applicable.iter().copied().collect(),
            matched: matched.iter().copied().collect(),
            objects: None,
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = serde_json::to_vec_pretty(self).unwrap_or_default();
        b.push(b'\n');
        b
    }
}

/// The files of one cluster: repository-relative paths and bytes.
pub type ClusterFiles = Box<dyn Fn(&str) -> Result<Vec<(String, Vec<u8>)>, WriteError> + Sync>;

/// One shard's output, read back (see [`crate::emit::write::read_shard`]).
pub struct ShardOutput {
    /// Where it was read from, for messages.
    pub label: String,
    pub dir: std::path::PathBuf,
    pub file: ShardFile,
    pub inventory: Recorded,
    /// The files of one of its clusters: repository-relative paths and bytes.
    pub files: ClusterFiles,
}

/// What [`merge`] put together.
#[derive(Debug, Default)]
pub struct Merged {
    pub clusters: usize,
    pub resources: usize,
}

fn mismatch(msg: String) -> Diagnostic {
    Diagnostic::error(Code::ShardMismatch, msg)
        .help("give every shard's directory once, each rendered with `--shard K/N` from the same revision, fleetc and options as this merge")
}

/// Check that `shards` are exactly the N shards of the planned fleet, each
/// rendered from the same inputs; returns per cluster the shard that has it.
fn check(p: &Planned, shards: &[ShardOutput]) -> Result<BTreeMap<String, usize>, Diags> {
    let mut diags = Diags::default();
    let mut count = None;
    let mut seen: BTreeMap<usize, &str> = BTreeMap::new();
    let mut owner: BTreeMap<String, usize> = BTreeMap::new();
    for (i, s) in shards.iter().enumerate() {
        let Ok(shard) = Shard::parse(&s.file.shard) else {
            diags.push(mismatch(format!(
                "{}: `{}` is not a shard",
                s.label, s.file.shard
            )));
            continue;
        };
        if *count.get_or_insert(shard.count) != shard.count {
            diags.push(mismatch(format!(
                "{} is shard {shard}, but another is one of {}",
                s.label,
                count.unwrap_or_default()
            )));
        }
        if let Some(other) = seen.insert(shard.index, &s.label) {
            diags.push(mismatch(format!(
                "{} and {other} are both shard {shard}",
                s.label
            )));
        }
        if s.inventory.format != p.format.as_str() || s.inventory.inputs_digest != p.inputs_digest {
            diags.push(mismatch(format!(
                "{} was rendered from other inputs (its inputsDigest {} is not this fleet's {}, or its format differs)",
                s.label,
                short(&s.inventory.inputs_digest),
                short(&p.inputs_digest)
            )));
        }
        for c in s.inventory.clusters.keys() {
            if !shard.holds(c) {
                diags.push(mismatch(format!(
                    "{} holds cluster `{c}`, which is not shard {shard}'s",
                    s.label
                )));
            }
            owner.insert(c.clone(), i);
        }
    }
    if let Some(n) = count {
        let missing: Vec<String> = (1..=n)
            .filter(|k| !seen.contains_key(k))
            .map(|k| format!("{k}/{n}"))
            .collect();
        if !missing.is_empty() {
            diags.push(mismatch(format!("shard {} is missing", missing.join(", "))));
        }
    }
    let planned: BTreeSet<&String> = p.resolved.clusters.iter().map(|c| &c.name).collect();
    if !diags.has_errors() {
        for c in &planned {
            if !owner.contains_key(*c) {
                diags.push(mismatch(format!("no shard rendered cluster `{c}`")));
            }
        }
        for c in owner.keys() {
            if !planned.contains(c) {
                diags.push(mismatch(format!(
                    "a shard rendered cluster `{c}`, which this fleet does not have"
                )));
            }
        }
    }
    if !diags.has_errors() {
        Ok(owner)
    } else {
        Err(diags)
    }
}

fn short(digest: &str) -> &str {
    &digest[..digest.len().min(12)]
}

/// Assemble the shards' outputs into `sink`: the tree one machine would
/// have rendered from `p`, with `inventory.json` and the fleet's own files
/// made here, and "this patch matches nothing" decided over every shard.
/// Without `files`, the clusters' files are left out (the caller takes
/// them from the shards' objects).
/// Returns the diagnostics (the plan's, then the merge's); with an error,
/// nothing reached the sink.
pub fn merge(
    fs: &source::FileSet,
    p: &Planned,
    opts: &Options,
    shards: &[ShardOutput],
    sink: &dyn Sink,
    files: bool,
) -> Result<(Merged, Diags), WriteError> {
    use rayon::prelude::*;
    let mut diags = p.diags.clone();
    let owner = match check(p, shards) {
        Ok(o) => o,
        Err(d) => {
            diags.extend(d);
            diags.normalize();
            return Ok((Merged::default(), diags));
        }
    };
    let (mut applicable, mut matched) = (BTreeSet::new(), BTreeSet::new());
    for s in shards {
        applicable.extend(s.file.applicable.iter().copied());
        matched.extend(s.file.matched.iter().copied());
    }
    if p.resolved.clusters.len() == p.repo.clusters.len() {
        diags.extend(render::unmatched_patches(&p.repo, &applicable, &matched));
    }
    diags.normalize();
    if diags.has_errors() {
        return Ok((Merged::default(), diags));
    }
    let names: Vec<&String> = p.resolved.clusters.iter().map(|c| &c.name).collect();
    // Without `files`, the caller takes the clusters' objects itself.
    let mut done = 0;
    for chunk in names.chunks(128).filter(|_| files) {
        chunk.par_iter().try_for_each(|c| {
            let files = (shards[owner[*c]].files)(c)?;
            sink.put(&files)
        })?;
        done += chunk.len();
        if let Some(pr) = &opts.progress {
            pr.tell("merging", done, names.len());
        }
    }
    let emitter = emit::Emitter::new(fs, &p.repo, p.format, true);
    let mut merged = Merged::default();
    if opts.inventory {
        let mut inv = emitter.inventory(emit::Stamp {
            source_rev: opts.source_rev.as_deref(),
            inputs_digest: &p.inputs_digest,
        });
        sink.append("inventory.json", &inv.head())?;
        for c in &names {
            let r = &shards[owner[*c]].inventory.clusters[*c];
            sink.append("inventory.json", &inv.entry(&r.entry))?;
            merged.resources += r.resources;
        }
        sink.append("inventory.json", &inv.tail())?;
    }
    sink.put(&emitter.fleet_files(!names.is_empty()))?;
    merged.clusters = names.len();
    Ok((merged, diags))
}

/// Read the output of `render --shard K/N -o DIR` back: its `shard.json`,
/// its `inventory.json` and, on demand, the files of one of its clusters
/// (regular files only: a symbolic link is refused).
pub fn read(dir: &std::path::Path) -> Result<ShardOutput, WriteError> {
    use std::fs;
    let label = dir.display().to_string();
    let not = |why: String| {
        WriteError::Refused(format!(
            "{label} is not the output of `fleetc render --shard K/N`: {why}"
        ))
    };
    let bytes = fs::read(dir.join(ShardFile::PATH))
        .map_err(|e| not(format!("{}: {e}", ShardFile::PATH)))?;
    let file: ShardFile =
        serde_json::from_slice(&bytes).map_err(|e| not(format!("{}: {e}", ShardFile::PATH)))?;
    let inv =
        fs::read(dir.join("inventory.json")).map_err(|e| not(format!("inventory.json: {e}")))?;
    let inventory = Recorded::parse(&inv)
        .ok_or_else(|| not("its inventory.json cannot be read back".into()))?;
    let format = crate::load::model::Format::parse(&inventory.format)
        .ok_or_else(|| not(format!("unknown format `{}`", inventory.format)))?;
    let root = dir.to_path_buf();
    let files = move |cluster: &str| -> Result<Vec<(String, Vec<u8>)>, WriteError> {
        let io = |p: &std::path::Path, e: &dyn std::fmt::Display| {
            WriteError::Io(format!("cannot read {}: {e}", p.display()))
        };
        let mut out = Vec::new();
        for rel in emit::cluster_paths(format, cluster) {
            let top = root.join(&rel);
            if fs::symlink_metadata(&top).is_err() {
                continue;
            }
            for entry in walkdir::WalkDir::new(&top)
                .follow_links(false)
                .sort_by_file_name()
            {
                let entry = entry.map_err(|e| io(&top, &e))?;
                let ft = entry.file_type();
                if ft.is_dir() {
                    continue;
                }
                if !ft.is_file() {
                    return Err(WriteError::Refused(format!(
                        "refusing to merge {}: not a regular file",
                        entry.path().display()
                    )));
                }
                let rel = entry
                    .path()
                    .strip_prefix(&root)
                    .ok()
                    .and_then(|p| p.to_str())
                    .map(|p| p.replace('\\', "/"))
                    .ok_or_else(|| io(entry.path(), &"not a UTF-8 path"))?;
                let bytes = fs::read(entry.path()).map_err(|e| io(entry.path(), &e))?;
                out.push((rel, bytes));
            }
        }
        Ok(out)
    };
    Ok(ShardOutput {
        label,
        dir: dir.to_path_buf(),
        file,
        inventory,
        files: Box::new(files),
    })
}
