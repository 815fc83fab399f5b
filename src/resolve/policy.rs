//! Policies (SPEC §2 Policy): where each applies, its mode on each cluster,
//! and the exemptions that loosen it.
//!
//! The baseline `mode` holds everywhere the policy applies; `enforce`
//! tightens it. Only an exemption (reason, approver, expiry) loosens it: to
//! audit (`effect: audit`) or off the cluster (`effect: skip`; a skip wins
//! over an audit when both match). An exemption is valid through its
//! `expires` day; after that it fails the run, as does an exemption that
//! matches no cluster the policy applies to, or any exemption of a policy
//! that is not exemptible. Taints do not apply to policies.

use crate::diag::Code;
use std::collections::{BTreeMap, BTreeSet};

use crate::diag::{Diagnostic, Diags};
use crate::load::model::{Effect, Mode, Repo, Unit};
use crate::resolve::select::eval_target;

/// One policy on one cluster.
#[derive(Clone, Debug)]
pub struct PolicyOn {
    pub mode: Mode,
    /// Index of the exemption that applies, if any.
    pub exemption: Option<usize>,
}

/// Cluster name → how the policy lands there (clusters it skips are absent).
pub fn place(
    repo: &Repo,
    u: &Unit,
    members: &BTreeMap<String, BTreeSet<String>>,
    today: &str,
    diags: &mut Diags,
) -> BTreeMap<String, PolicyOn> {
    let Some(spec) = &u.policy else {
        return BTreeMap::new();
    };
    let applies: BTreeSet<String> = match &spec.target {
        Some(t) => eval_target(repo, t, members),
        None => repo.clusters.iter().map(|c| c.name.clone()).collect(),
    };
    if applies.is_empty() {
        if let Some(t) = &spec.target {
            diags.push(
                Diagnostic::warning(
                    Code::SelectsNothing,
                    format!("policy `{}` applies to no cluster", u.name),
                )
                .at(&t.span),
            );
        }
    }
    let enforced: BTreeSet<String> = spec
        .enforce
        .as_ref()
        .map(|t| eval_target(repo, t, members))
        .unwrap_or_default();

    // Exemption i → the clusters it covers (only those the policy applies to).
    let mut covers: Vec<BTreeSet<String>> = Vec::new();
    for (i, ex) in spec.exemptions.iter().enumerate() {
        let set: BTreeSet<String> = eval_target(repo, &ex.target, members)
            .intersection(&applies)
            .cloned()
            .collect();
        if !spec.exemptible {
            let mut d = Diagnostic::error(
                Code::PolicyNotExemptible,
                format!(
                    "policy `{}` is not exemptible, but exemption #{} names it",
                    u.name,
                    i + 1
                ),
            )
            .at(&ex.span)
            .help("remove the exemption, or have the policy's owners make it exemptible");
            if let Some(s) = &spec.exemptible_span {
                d = d.related(s, "exemptible: false");
            }
            diags.push(d);
        } else if set.is_empty() {
            diags.push(
                Diagnostic::error(
                    Code::ExemptionOrphan,
                    format!(
                        "exemption #{} of policy `{}` matches no cluster the policy applies to",
                        i + 1,
                        u.name
                    ),
                )
                .at(&ex.target.span)
                .help("an exemption names clusters the policy is on; fix its target or remove it"),
            );
        } else if ex.expires.as_str() < today {
            let list: Vec<&str> = set.iter().map(String::as_str).collect();
            diags.push(
                Diagnostic::error(Code::ExemptionExpired, format!(
                    "exemption of policy `{}` for {} {} expired on {} (today is {today})",
                    u.name,
                    if list.len() == 1 { "cluster" } else { "clusters" },
                    list.join(", "),
                    ex.expires
                ))
                .at(&ex.expires_span)
                .label("expired")
                .help("renew it with a new expiry approved again, or remove it so the policy applies in full"),
            );
        }
        covers.push(set);
    }

    let mut out = BTreeMap::new();
    for c in &applies {
        let mut mode = if enforced.contains(c) {
            Mode::Enforce
        } else {
            spec.mode
        };
        let matching: Vec<usize> = (0..spec.exemptions.len())
            .filter(|&i| covers[i].contains(c))
            .collect();
        if spec.exemptible
            && matching
                .iter()
                .any(|&i| spec.exemptions[i].effect == Effect::Skip)
        {
            continue;
        }
        let exemption = if spec.exemptible {
            matching.first().copied()
        } else {
            None
        };
        if exemption.is_some() {
            mode = Mode::Audit;
        }
        out.insert(c.clone(), PolicyOn { mode, exemption });
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::date::{date_of_epoch, today, valid_date};

    #[test]
    fn dates() {
        assert_eq!(date_of_epoch(0), "1970-01-01");
        assert_eq!(date_of_epoch(951_782_400), "2000-02-29");
        assert_eq!(date_of_epoch(1_798_761_599), "2026-12-31");
        assert_eq!(date_of_epoch(1_798_761_600), "2027-01-01");
        assert!(valid_date("2024-02-29"));
        assert!(!valid_date("2023-02-29"));
        assert!(!valid_date("2027-13-01"));
        assert_eq!(
            today(Some("2027-01-31"), Some("0"), 0).unwrap(),
            "2027-01-31"
        );
        assert_eq!(today(None, Some("86400"), 0).unwrap(), "1970-01-02");
        assert!(today(None, Some("soon"), 0).is_err());
        assert!(today(Some("31/01/2027"), None, 0).is_err());
    }
}
