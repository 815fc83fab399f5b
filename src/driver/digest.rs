//! Digests of what an output tree, or one cluster's part of it, is a
//! function of: equal digests mean byte-identical output, so `render` skips
//! an up-to-date tree and `diff` renders only the clusters that differ.

use super::Options;
use crate::load::model::{Format, Repo};
use crate::{emit, render, resolve, source};

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
/// `clusters/<c>/`, `argocd/<c>/`, `bootstrap/<c>.yaml` and its
/// `inventory.json` entry) is a function of: fleetc's version, the format,
/// its input files ([`emit::cluster_inputs`]), what resolution decided for
/// it (groups, versions, modes, exemptions, waves), the scopes of custom
/// resources (`scopes`: CRDs rendered anywhere in the fleet decide them),
/// and "today" when a file mentions a Kyverno cleanup TTL (an exception
/// that expires changes what admission says). Equal digests mean the same
/// files and the same findings, so `diff` renders only the clusters that
/// differ, and `render` and `publish` keep the ones whose recorded digest
/// is unchanged. Recorded per cluster as `inputsDigest` in inventory.json.
pub fn cluster_digests(
    fs: &source::FileSet,
    (repo, resolved, format): (&Repo, &resolve::Resolved, Format),
    scopes: &render::CrdScopes,
    today: &str,
) -> std::collections::BTreeMap<String, String> {
    use std::fmt::Write as _;
    let mut common = format!(
        "fleetc {}\nformat {}\n",
        env!("CARGO_PKG_VERSION"),
        format.as_str()
    );
    for ((group, kind), cluster_scoped) in scopes {
        let _ = writeln!(common, "scope {group} {kind} {cluster_scoped}");
    }
    if mentions(fs, b"cleanup.kyverno.io/ttl") {
        let _ = writeln!(common, "today {today}");
    }
    // A file is hashed once, however many clusters read it.
    let mut hashes: std::collections::HashMap<&str, String> = Default::default();
    let mut out = std::collections::BTreeMap::new();
    let crd_files = repo.declared_crd_files();
    for rc in &resolved.clusters {
        let mut s = format!("{common}groups {:?}\n", rc.groups);
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
        for path in emit::cluster_inputs(repo, rc, &crd_files) {
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
    mentions(fs, b"CustomResourceDefinition")
}

/// Does any component or policy file contain `needle`?
fn mentions(fs: &source::FileSet, needle: &[u8]) -> bool {
    fs.files.iter().any(|(p, b)| {
        (p.starts_with("components/") || p.starts_with("policies/"))
            && b.windows(needle.len()).any(|w| w == needle)
    })
}
