//! Selection (SPEC §3): group membership, Targets, taints and tolerations,
//! and the stable subset of `numberOfClusters` by rendezvous hashing.

use crate::diag::Code;
use std::collections::{BTreeMap, BTreeSet};

use sha2::{Digest, Sha256};

use crate::diag::{plural, Diagnostic, Diags};
use crate::load::model::{NameRef, Placement, Repo, Selector, Target};

/// Clusters a selector matches plus the (known) clusters listed by name.
fn matched_or_listed(
    repo: &Repo,
    selector: Option<&Selector>,
    listed: &[NameRef],
) -> BTreeSet<String> {
    let mut set = BTreeSet::new();
    if let Some(s) = selector.filter(|s| !s.is_empty()) {
        set.extend(
            repo.clusters
                .iter()
                .filter(|c| s.matches(&c.labels))
                .map(|c| c.name.clone()),
        );
    }
    set.extend(
        listed
            .iter()
            .filter(|r| repo.cluster(&r.name).is_some())
            .map(|r| r.name.clone()),
    );
    set
}

/// Group name → member cluster names (selector ∪ clusters ∪ member groups).
pub fn memberships(repo: &Repo) -> BTreeMap<String, BTreeSet<String>> {
    fn members_of(
        repo: &Repo,
        name: &str,
        memo: &mut BTreeMap<String, BTreeSet<String>>,
        visiting: &mut BTreeSet<String>,
    ) -> BTreeSet<String> {
        if let Some(m) = memo.get(name) {
            return m.clone();
        }
        let Some(g) = repo.group(name) else {
            return BTreeSet::new();
        };
        if !visiting.insert(name.to_string()) {
            return BTreeSet::new(); // a cycle: reported by validation
        }
        let mut set = matched_or_listed(repo, g.selector.as_ref(), &g.clusters);
        for sub in &g.groups {
            set.extend(members_of(repo, &sub.name, memo, visiting));
        }
        visiting.remove(name);
        memo.insert(name.to_string(), set.clone());
        set
    }
    let mut memo = BTreeMap::new();
    for g in &repo.groups {
        members_of(repo, &g.name, &mut memo, &mut BTreeSet::new());
    }
    memo
}

/// The clusters a Target selects (before taints).
pub fn eval_target(
    repo: &Repo,
    t: &Target,
    members: &BTreeMap<String, BTreeSet<String>>,
) -> BTreeSet<String> {
    let mut set: BTreeSet<String> = BTreeSet::new();
    if t.all {
        set.extend(repo.clusters.iter().map(|c| c.name.clone()));
    }
    for g in &t.groups {
        if let Some(m) = members.get(&g.name) {
            set.extend(m.iter().cloned());
        }
    }
    set.extend(matched_or_listed(repo, t.selector.as_ref(), &t.clusters));
    for x in &t.exclude {
        set.remove(&x.name);
    }
    set
}

/// Rendezvous weight of a cluster for a placement: the first 8 bytes of
/// SHA-256(`<placement>/<cluster>`), big-endian.
pub fn weight(placement: &str, cluster: &str) -> u64 {
    let d = Sha256::digest(format!("{placement}/{cluster}").as_bytes());
    let mut b = [0u8; 8];
    b.copy_from_slice(&d[..8]);
    u64::from_be_bytes(b)
}

/// Pick `n` of `candidates` (SPEC §3): highest weight first, ties to the lower name;
/// with a spread key, round-robin over its values in byte order (unlabelled last).
pub fn pick(placement: &str, candidates: &[(&str, Option<&str>)], n: usize) -> Vec<String> {
    let order = |v: &mut Vec<&str>| {
        v.sort_by(|a, b| {
            weight(placement, b)
                .cmp(&weight(placement, a))
                .then_with(|| a.cmp(b))
        });
    };
    let mut buckets: BTreeMap<Option<&str>, Vec<&str>> = BTreeMap::new();
    for (c, v) in candidates {
        buckets.entry(*v).or_default().push(c);
    }
    // None sorts first in a BTreeMap; the unlabelled bucket goes last.
    let mut lists: Vec<Vec<&str>> = buckets
        .iter()
        .filter(|(k, _)| k.is_some())
        .chain(buckets.iter().filter(|(k, _)| k.is_none()))
        .map(|(_, v)| v.clone())
        .collect();
    for l in &mut lists {
        order(l);
    }
    let mut out = Vec::new();
    let mut round = 0;
    while out.len() < n && lists.iter().any(|l| l.len() > round) {
        for l in &lists {
            if out.len() == n {
                break;
            }
            if let Some(c) = l.get(round) {
                out.push(c.to_string());
            }
        }
        round += 1;
    }
    out.sort();
    out
}

/// The clusters a placement puts its component on.
pub fn place(
    repo: &Repo,
    p: &Placement,
    members: &BTreeMap<String, BTreeSet<String>>,
    diags: &mut Diags,
) -> Vec<String> {
    let selected = eval_target(repo, &p.target, members);
    let candidates: Vec<&str> = selected
        .iter()
        .filter(|c| {
            repo.cluster(c).is_some_and(|cl| {
                cl.taints
                    .iter()
                    .all(|t| p.tolerations.iter().any(|tol| tol.tolerates(t)))
            })
        })
        .map(String::as_str)
        .collect();
    if selected.is_empty() && !p.target.is_empty() {
        diags.push(
            Diagnostic::warning(
                Code::SelectsNothing,
                format!("placement `{}` selects no cluster", p.name),
            )
            .at(&p.target.span),
        );
    }
    for (i, t) in p.targets.iter().enumerate() {
        if !t.target.is_empty() && eval_target(repo, &t.target, members).is_disjoint(&selected) {
            let name = t.name.clone().unwrap_or_else(|| format!("#{}", i + 1));
            diags.push(
                Diagnostic::warning(Code::SelectsNothing, format!("customization `{name}` of placement `{}` selects no cluster the placement selects", p.name))
                    .at(&t.target.span),
            );
        }
    }
    match &p.number_of_clusters {
        None => candidates.iter().map(|s| s.to_string()).collect(),
        Some((n, span)) => {
            if candidates.len() < *n {
                diags.push(
                    Diagnostic::warning(
                        Code::TooFewCandidates,
                        format!(
                            "placement `{}` asks for {} but only {} {}; all of them are used",
                            p.name,
                            plural(*n, "cluster", "clusters"),
                            candidates.len(),
                            if candidates.len() == 1 {
                                "is a candidate"
                            } else {
                                "are candidates"
                            }
                        ),
                    )
                    .at(span),
                );
            }
            let with_label: Vec<(&str, Option<&str>)> = candidates
                .iter()
                .map(|c| {
                    let v = p.spread_by.as_ref().and_then(|k| {
                        repo.cluster(c)
                            .and_then(|cl| cl.labels.get(k))
                            .map(String::as_str)
                    });
                    (*c, v)
                })
                .collect();
            pick(&p.name, &with_label, *n)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendezvous_is_stable_under_one_addition() {
        let names: Vec<String> = (0..40).map(|i| format!("c{i:02}")).collect();
        let base: Vec<(&str, Option<&str>)> = names.iter().map(|n| (n.as_str(), None)).collect();
        let before = pick("p", &base[..39], 5);
        let after = pick("p", &base, 5);
        let changed = before.iter().filter(|c| !after.contains(c)).count();
        assert!(changed <= 1);
        let mut rev = base.clone();
        rev.reverse();
        assert_eq!(pick("p", &rev, 5), after);
    }

    #[test]
    fn spread_round_robins_over_label_values() {
        let c = [
            ("a", Some("eu")),
            ("b", Some("eu")),
            ("c", Some("us")),
            ("d", None),
        ];
        let got = pick("p", &c, 3);
        assert!(got.contains(&"c".to_string()));
        assert!(got.contains(&"d".to_string()));
    }
}
