//! `diff`: two planned fleets compared cluster by cluster.

use super::{Options, Planned, Streaming};
use crate::diag::Diags;
use crate::{diff as report, emit, resolve, source};

/// One side of [`diff()`].
#[derive(Clone, Copy)]
pub struct DiffSide<'a> {
    pub fs: &'a source::FileSet,
    pub planned: &'a Planned,
    /// `inventory` should be off: the inventory records the revision, which differs.
    pub opts: &'a Options,
    pub label: &'a str,
}

/// Compare two planned fleets resource by resource ([`crate::diff`]). Only the
/// clusters whose digests differ ([`super::cluster_digests`], which cover
/// the custom resource scopes CRDs anywhere decide) are rendered. Both sides render the same `batch`
/// clusters at a time; each batch's files are compared and dropped before
/// the next, so memory is bounded by the batch and the distinct changes,
/// not by the fleet. The report does not depend on `batch`.
///
/// `Err` is a side that does not render: its label and its diagnostics.
///
/// A cluster only one side has is summarised by the kinds of its objects,
/// unless `verbose` (then every file is shown, as for the others).
pub fn diff<'a>(
    base: DiffSide<'a>,
    head: DiffSide<'a>,
    batch: usize,
    verbose: bool,
) -> Result<report::Report, (&'a str, Diags)> {
    use std::collections::BTreeSet;
    let (pb, ph) = (base.planned, head.planned);
    let every: BTreeSet<&String> = pb
        .resolved
        .clusters
        .iter()
        .chain(&ph.resolved.clusters)
        .map(|c| &c.name)
        .collect();
    let mut sb = Streaming::new(base.fs, pb, base.opts, pb.diags.clone());
    let mut sh = Streaming::new(head.fs, ph, head.opts, ph.diags.clone());
    (sb.tell_progress, sh.tell_progress) = (false, false);
    // Digests cover the custom resource scopes, which the streams learnt.
    let changed: Vec<&String> = every
        .iter()
        .copied()
        .filter(|c| sb.digests.get(*c) != sh.digests.get(*c))
        .collect();
    let names = |p: &'a Planned| -> BTreeSet<String> {
        p.resolved.clusters.iter().map(|c| c.name.clone()).collect()
    };
    let (nb, nh) = (names(pb), names(ph));
    let mut folder = report::Folder::default();
    if !verbose {
        let added = nh.difference(&nb).cloned().collect();
        let removed = nb.difference(&nh).cloned().collect();
        folder = folder.summarising(&added, &removed);
    }
    // Each side's changed clusters, found once (both lists are sorted by
    // name): looking them up per batch would cost the fleet per batch.
    fn pick<'p>(p: &'p Planned, changed: &[&String]) -> Vec<Option<&'p resolve::ResolvedCluster>> {
        let c = &p.resolved.clusters;
        let at = |n: &String| c.binary_search_by(|rc| rc.name.cmp(n)).ok();
        changed.iter().map(|n| at(n).map(|i| &c[i])).collect()
    }
    let (cb, ch) = (pick(pb, &changed), pick(ph, &changed));
    let mut done = 0;
    let step = batch.max(1);
    for (b, h) in cb.chunks(step).zip(ch.chunks(step)) {
        let (ob, oh) = (
            emit::write::Collect::default(),
            emit::write::Collect::default(),
        );
        let present = |side: &[Option<&'a resolve::ResolvedCluster>]| -> Vec<_> {
            side.iter().flatten().copied().collect()
        };
        // Collecting in memory cannot fail.
        let _ = sb.batch(&present(b), &ob, None);
        let _ = sh.batch(&present(h), &oh, None);
        folder.add(report::changes(&ob.into_tree(), &oh.into_tree()));
        done += b.len();
        if let Some(p) = &head.opts.progress {
            p.tell("comparing", done, changed.len());
        }
    }
    for (mut s, side) in [(sb, &base), (sh, &head)] {
        let diags = s.finish();
        if diags.has_errors() {
            return Err((side.label, diags));
        }
    }
    let mut groups = pb.resolved.members.clone();
    groups.extend(ph.resolved.members.clone());
    Ok(folder.finish(&groups, base.label, head.label, every.len()))
}
