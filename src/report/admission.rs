//! The report's admission section: per policy, the clusters where its
//! engine would reject objects (enforce), where it only flags them
//! (audit), where it cannot evaluate them, and what it skips.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::admit::{Outcome, Reported};

/// One admission policy across the fleet.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AdmissionRow {
    pub policy: String,
    /// `kyverno`, `gatekeeper` or `ValidatingAdmissionPolicy`.
    pub source: String,
    /// Objects the policy checked (all results).
    pub results: usize,
    /// Violations the cluster would reject, and the clusters.
    pub denied: usize,
    pub denied_clusters: Vec<String>,
    /// Violations the cluster admits and reports.
    pub flagged: usize,
    pub flagged_clusters: Vec<String>,
    /// Evaluation errors (and results over the budget).
    pub errors: usize,
    pub error_clusters: Vec<String>,
    /// Results not evaluable offline.
    pub skipped: usize,
}

/// The rows, by policy name, from every admission result.
pub fn build(results: &[Reported]) -> Vec<AdmissionRow> {
    #[derive(Default)]
    struct Acc {
        source: String,
        results: usize,
        denied: (usize, BTreeSet<String>),
        flagged: (usize, BTreeSet<String>),
        errors: (usize, BTreeSet<String>),
        skipped: usize,
    }
    let mut by: BTreeMap<String, Acc> = BTreeMap::new();
    for r in results {
        let f = &r.finding;
        let a = by.entry(f.policy.clone()).or_default();
        a.source = f.engine.as_str().to_string();
        a.results += 1;
        let bucket = match f.outcome {
            Outcome::Fail if f.enforce => Some(&mut a.denied),
            Outcome::Fail => Some(&mut a.flagged),
            Outcome::Error | Outcome::Ignored | Outcome::Budget => Some(&mut a.errors),
            Outcome::Skip => {
                a.skipped += 1;
                None
            }
            Outcome::Pass => None,
        };
        if let Some((n, clusters)) = bucket {
            *n += 1;
            clusters.insert(r.cluster.clone());
        }
    }
    by.into_iter()
        .map(|(policy, a)| AdmissionRow {
            policy,
            source: a.source,
            results: a.results,
            denied: a.denied.0,
            denied_clusters: a.denied.1.into_iter().collect(),
            flagged: a.flagged.0,
            flagged_clusters: a.flagged.1.into_iter().collect(),
            errors: a.errors.0,
            error_clusters: a.errors.1.into_iter().collect(),
            skipped: a.skipped,
        })
        .collect()
}

/// A count with the clusters it happens on: `2 (a, b)`.
pub fn cell(n: usize, clusters: &[String]) -> String {
    if n == 0 {
        "0".into()
    } else {
        format!("{n} on {}", clusters.join(", "))
    }
}
