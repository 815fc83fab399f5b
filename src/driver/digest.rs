//! Digests of what an output tree, or one cluster's part of it, is a
//! function of: equal digests mean byte-identical output, so `render` skips
//! an up-to-date tree and `diff` renders only the clusters that differ.

use super::{Options, Planned};
use crate::load::model::Format;
use crate::{emit, resolve, source};

/// One digest of everything an output tree is a function of: fleetc's
/// version, every input file (path and bytes), the options that change the
/// output (format, `--cluster`, the source revision) and what "today" decided
/// (each policy's mode and exemption, each rollout wave, per cluster).
/// Equal digests mean byte-identical output trees, so `render` skips the
/// work when the tree on disk records the same one.
pub fn inputs_digest(
    fs: &source::FileSet,
    opts: &Options,
    format: Format,
    resolved: &resolve::Resolved,
) -> String {
    use sha2::{Digest, Sha256};
    use std::fmt::Write as _;
    let mut h = Sha256::new();
    let mut head = format!(
        "fleetc {}\nformat {}\nclusters {:?}\nsource {:?}\n",
        env!("CARGO_PKG_VERSION"),
        format.as_str(),
        opts.clusters,
        opts.source_rev
    );
    for (p, bytes) in &fs.files {
        let _ = writeln!(head, "{p}\0{}", emit::sha256_hex(bytes));
    }
    for c in &resolved.clusters {
        let _ = write!(head, "{}", c.name);
        for u in &c.units {
            let _ = write!(
                head,
                " {}:{:?}:{:?}:{:?}",
                u.unit, u.mode, u.exemption, u.wave
            );
        }
        head.push('\n');
    }
    h.update(head.as_bytes());
    emit::sha256_hex(&h.finalize())
}

/// Per cluster, a digest of everything its part of the output tree (its
/// `clusters/<c>/`, `argocd/<c>/` and `bootstrap/<c>.yaml`) is a function of:
/// fleetc's version, the format, its input files ([`emit::cluster_inputs`])
/// and what resolution decided for it (groups, versions, modes, exemptions,
/// waves). Equal digests on two sides of a diff
/// mean the same files, so `diff` renders only the clusters that differ.
///
/// One input crosses clusters: the scope of a custom resource comes from
/// CustomResourceDefinitions rendered anywhere in the fleet. When any unit
/// mentions `CustomResourceDefinition` ([`mentions_crds`]), callers render
/// every cluster instead.
pub fn cluster_digests(
    fs: &source::FileSet,
    p: &Planned,
) -> std::collections::BTreeMap<String, String> {
    use std::fmt::Write as _;
    let repo = &p.repo;
    // A file is hashed once, however many clusters read it.
    let mut hashes: std::collections::HashMap<&str, String> = Default::default();
    let mut out = std::collections::BTreeMap::new();
    for rc in &p.resolved.clusters {
        let mut s = format!(
            "fleetc {}\nformat {}\ngroups {:?}\n",
            env!("CARGO_PKG_VERSION"),
            p.format.as_str(),
            rc.groups
        );
        for ru in &rc.units {
            let _ = writeln!(
                s,
                "unit {} {:?} {:?} {:?} {:?} {:?}",
                repo.units[ru.unit].name,
                ru.placement.map(|pi| &repo.placements[pi].name),
                ru.version,
                ru.mode,
                ru.exemption,
                ru.wave
            );
        }
        for path in emit::cluster_inputs(repo, rc) {
            let h = hashes.entry(path).or_insert_with(|| {
                fs.get(path)
                    .map(|b| emit::sha256_hex(b))
                    .unwrap_or_default()
            });
            let _ = writeln!(s, "{path}\0{h}");
        }
        out.insert(rc.name.clone(), emit::sha256_hex(s.as_bytes()));
    }
    out
}

/// Does any component or policy file mention `CustomResourceDefinition`?
pub fn mentions_crds(fs: &source::FileSet) -> bool {
    const NEEDLE: &[u8] = b"CustomResourceDefinition";
    fs.files.iter().any(|(p, b)| {
        (p.starts_with("components/") || p.starts_with("policies/"))
            && b.windows(NEEDLE.len()).any(|w| w == NEEDLE)
    })
}
