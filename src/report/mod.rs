//! `fleetc report` (SPEC §8): the fleet review. Which clusters exist and who
//! owns them, which Kubernetes versions are in service, which component
//! versions are skewed across clusters and which rollouts are in flight,
//! each policy's posture (enforce / audit / exempt), the exemptions by
//! expiry, and what `validate` found.
//!
//! [`build`] reads a planned fleet (nothing is rendered here; the caller
//! passes the diagnostics of a full validate) into a [`Report`], whose
//! serde form is the documented `json` format
//! (`fleet-schema/report.schema.json`); [`text`] and [`html`] present it.
//! The report is informative: an expired exemption is listed, not fatal.

pub mod admission;
pub mod html;
pub mod policy_report;
pub mod text;
pub mod upgrade;

use std::collections::{BTreeMap, BTreeSet};

use indexmap::IndexMap;
use serde::Serialize;

use crate::diag::{Diags, Severity};
use crate::load::model::{Effect, Repo, UnitKind};
use crate::resolve::select::eval_target;
use crate::resolve::Resolved;

/// Exemptions expiring within this many days are called out.
pub const EXPIRING_DAYS: i64 = 30;

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub fleet: String,
    /// The date exemptions were judged against (YYYY-MM-DD).
    pub today: String,
    /// The git commit reported on; null for a work tree.
    pub source_revision: Option<String>,
    pub summary: Summary,
    pub clusters: Vec<ClusterRow>,
    pub kubernetes_versions: Vec<KubernetesVersion>,
    pub components: Vec<ComponentRow>,
    pub policies: Vec<PolicyRow>,
    pub exemptions: Vec<ExemptionRow>,
    /// What each cluster must change before its next Kubernetes upgrades.
    pub upgrade_readiness: upgrade::UpgradeReadiness,
    /// What each cluster's own admission policies say of what it receives.
    pub admission: Vec<admission::AdmissionRow>,
    pub findings: Vec<Finding>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub clusters: usize,
    pub groups: usize,
    pub components: usize,
    pub policies: usize,
    pub placements: usize,
    pub kubernetes_versions: usize,
    pub skewed_components: usize,
    pub rollouts_in_flight: usize,
    pub exemptions_expired: usize,
    pub exemptions_expiring: usize,
    pub errors: usize,
    pub warnings: usize,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterRow {
    pub name: String,
    pub owner: String,
    pub kubernetes_version: String,
    /// In layering order.
    pub groups: Vec<String>,
    pub labels: IndexMap<String, String>,
    /// The cluster's wave in each rollout that places a component on it.
    pub waves: Vec<WaveOf>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WaveOf {
    pub placement: String,
    pub component: String,
    pub wave: String,
    pub promoted: bool,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KubernetesVersion {
    pub version: String,
    /// `major.minor`.
    pub minor: String,
    pub clusters: Vec<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ComponentRow {
    pub name: String,
    /// Distinct versions in service, oldest first, with their clusters.
    pub versions: Vec<VersionIn>,
    /// More than one version in service.
    pub skew: bool,
    /// Cluster → version (null: the component has no version), for every
    /// cluster the component is placed on; the version matrix's row.
    pub by_cluster: BTreeMap<String, Option<String>>,
    pub rollouts: Vec<RolloutRow>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VersionIn {
    pub version: Option<String>,
    pub clusters: Vec<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RolloutRow {
    pub placement: String,
    /// The version promoted clusters run (null: the component's own).
    pub version: Option<String>,
    pub promoted_through: Option<String>,
    /// Some of its clusters are promoted and some are not yet.
    pub in_flight: bool,
    pub waves: Vec<WaveRow>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WaveRow {
    pub name: String,
    pub promoted: bool,
    pub clusters: Vec<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyRow {
    pub name: String,
    pub engine: &'static str,
    /// The fleet-wide baseline mode.
    pub mode: &'static str,
    pub exemptible: bool,
    /// Clusters per posture; every cluster the policy applies to is in exactly one.
    pub enforce: Vec<String>,
    pub audit: Vec<String>,
    pub exempt_audit: Vec<String>,
    pub exempt_skip: Vec<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExemptionRow {
    pub policy: String,
    /// 1-based position in the policy's `exemptions`.
    pub index: usize,
    /// `expired`, `expiring` (within [`EXPIRING_DAYS`] days) or `active`.
    pub status: &'static str,
    pub expires: String,
    /// Days from today to the last valid day (negative: expired that long ago).
    pub days_left: i64,
    pub effect: &'static str,
    pub clusters: Vec<String>,
    /// The owners of those clusters.
    pub owners: Vec<String>,
    pub approved_by: String,
    pub reason: String,
    /// `file:line` of its `expires`.
    pub location: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    /// `error` or `warning`.
    pub severity: &'static str,
    pub message: String,
    /// `file:line:col`, when the finding has a place.
    pub location: Option<String>,
    /// The clusters it shows up on, when it came from rendering.
    pub clusters: Vec<String>,
}

/// Compare dotted versions numerically where both parts are numbers
/// (`1.9` < `1.10`), as text otherwise; a leading `v` is ignored.
pub fn version_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    let norm = |s: &'_ str| s.strip_prefix('v').unwrap_or(s).to_string();
    let (na, nb) = (norm(a), norm(b));
    let mut x = na.split(['.', '-', '+']);
    let mut y = nb.split(['.', '-', '+']);
    loop {
        match (x.next(), y.next()) {
            // Equal as versions: the text decides, so the order is total.
            (None, None) => return a.cmp(b),
            (None, Some(_)) => return std::cmp::Ordering::Less,
            (Some(_), None) => return std::cmp::Ordering::Greater,
            (Some(p), Some(q)) => {
                let o = match (p.parse::<u64>(), q.parse::<u64>()) {
                    (Ok(m), Ok(n)) => m.cmp(&n),
                    _ => p.cmp(q),
                };
                if o != std::cmp::Ordering::Equal {
                    return o;
                }
            }
        }
    }
}

fn minor_of(v: &str) -> String {
    let v = v.strip_prefix('v').unwrap_or(v);
    let mut parts = v.split('.');
    match (parts.next(), parts.next()) {
        (Some(a), Some(b)) => format!("{a}.{b}"),
        _ => v.to_string(),
    }
}

/// Build the report of a resolved fleet; `diags` are what validate found.
pub fn build(
    repo: &Repo,
    resolved: &Resolved,
    today: &str,
    source_revision: Option<&str>,
    diags: &Diags,
    blockers: &[crate::accept::Blocker],
    admission_results: &[crate::admit::Reported],
) -> Report {
    let owner_of = |c: &str| repo.cluster(c).map(|c| c.owner.clone()).unwrap_or_default();

    // Inventory, with each cluster's wave per rollout.
    let clusters: Vec<ClusterRow> = resolved
        .clusters
        .iter()
        .map(|rc| {
            let c = &repo.clusters[rc.cluster];
            let waves = rc
                .units
                .iter()
                .filter_map(|ru| {
                    let (wave, promoted) = ru.wave.clone()?;
                    Some(WaveOf {
                        placement: ru
                            .placement
                            .map(|p| repo.placements[p].name.clone())
                            .unwrap_or_default(),
                        component: repo.units[ru.unit].name.clone(),
                        wave,
                        promoted,
                    })
                })
                .collect();
            ClusterRow {
                name: rc.name.clone(),
                owner: c.owner.clone(),
                kubernetes_version: c.kubernetes_version.clone(),
                groups: rc.groups.clone(),
                labels: c.labels.clone(),
                waves,
            }
        })
        .collect();

    // Kubernetes versions in service.
    let mut kv: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for c in &clusters {
        kv.entry(c.kubernetes_version.clone())
            .or_default()
            .push(c.name.clone());
    }
    let mut kubernetes_versions: Vec<KubernetesVersion> = kv
        .into_iter()
        .map(|(version, clusters)| KubernetesVersion {
            minor: minor_of(&version),
            version,
            clusters,
        })
        .collect();
    kubernetes_versions.sort_by(|a, b| version_cmp(&a.version, &b.version));

    // Component versions: the resolved version of each placed component per cluster.
    let mut components = Vec::new();
    for (ui, u) in repo.units.iter().enumerate() {
        if u.kind != UnitKind::Component {
            continue;
        }
        let mut by_cluster: BTreeMap<String, Option<String>> = BTreeMap::new();
        let mut placements: BTreeSet<usize> = BTreeSet::new();
        let mut waves_of: BTreeMap<(usize, String), BTreeSet<String>> = BTreeMap::new();
        for rc in &resolved.clusters {
            for ru in rc.units.iter().filter(|ru| ru.unit == ui) {
                by_cluster.insert(rc.name.clone(), ru.version.clone());
                if let Some(p) = ru.placement {
                    placements.insert(p);
                    if let Some((w, _)) = &ru.wave {
                        waves_of
                            .entry((p, w.clone()))
                            .or_default()
                            .insert(rc.name.clone());
                    }
                }
            }
        }
        if by_cluster.is_empty() {
            continue;
        }
        let mut vs: BTreeMap<Option<String>, Vec<String>> = BTreeMap::new();
        for (c, v) in &by_cluster {
            vs.entry(v.clone()).or_default().push(c.clone());
        }
        let mut versions: Vec<VersionIn> = vs
            .into_iter()
            .map(|(version, clusters)| VersionIn { version, clusters })
            .collect();
        versions.sort_by(|a, b| match (&a.version, &b.version) {
            (Some(x), Some(y)) => version_cmp(x, y),
            (x, y) => x.cmp(y),
        });
        let mut rollouts = Vec::new();
        for p in placements {
            let pl = &repo.placements[p];
            let Some(r) = &pl.rollout else { continue };
            let through = r.promoted_through.as_ref().map(|n| n.name.clone());
            let last_promoted = through
                .as_ref()
                .and_then(|t| r.waves.iter().position(|w| &w.name == t));
            let waves: Vec<WaveRow> = r
                .waves
                .iter()
                .enumerate()
                .map(|(i, w)| WaveRow {
                    name: w.name.clone(),
                    promoted: last_promoted.is_some_and(|l| i <= l),
                    clusters: waves_of
                        .get(&(p, w.name.clone()))
                        .map(|s| s.iter().cloned().collect())
                        .unwrap_or_default(),
                })
                .collect();
            let with_clusters: Vec<&WaveRow> =
                waves.iter().filter(|w| !w.clusters.is_empty()).collect();
            let in_flight = with_clusters.iter().any(|w| w.promoted)
                && with_clusters.iter().any(|w| !w.promoted);
            rollouts.push(RolloutRow {
                placement: pl.name.clone(),
                version: r.version.clone(),
                promoted_through: through,
                in_flight,
                waves,
            });
        }
        components.push(ComponentRow {
            name: u.name.clone(),
            skew: versions.len() > 1,
            versions,
            by_cluster,
            rollouts,
        });
    }

    components.sort_by(|a, b| a.name.cmp(&b.name));

    // Policy posture and exemptions, from the same targets resolution used.
    let members = &resolved.members;
    let mut policies = Vec::new();
    let mut exemptions = Vec::new();
    for (ui, u) in repo.units.iter().enumerate() {
        let Some(spec) = &u.policy else { continue };
        let applies: BTreeSet<String> = match &spec.target {
            Some(t) => eval_target(repo, t, members),
            None => repo.clusters.iter().map(|c| c.name.clone()).collect(),
        };
        let (mut enforce, mut audit, mut exempt_audit, mut exempt_skip) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut placed: BTreeSet<String> = BTreeSet::new();
        for rc in &resolved.clusters {
            for ru in rc.units.iter().filter(|ru| ru.unit == ui) {
                placed.insert(rc.name.clone());
                match (ru.exemption, ru.mode) {
                    (Some(_), _) => exempt_audit.push(rc.name.clone()),
                    (None, Some(crate::load::model::Mode::Enforce)) => {
                        enforce.push(rc.name.clone())
                    }
                    (None, _) => audit.push(rc.name.clone()),
                }
            }
        }
        let reported: BTreeSet<&str> = resolved.clusters.iter().map(|c| c.name.as_str()).collect();
        for (i, ex) in spec.exemptions.iter().enumerate() {
            let covered: Vec<String> = eval_target(repo, &ex.target, members)
                .intersection(&applies)
                .filter(|c| reported.contains(c.as_str()))
                .cloned()
                .collect();
            if spec.exemptible && ex.effect == Effect::Skip {
                for c in &covered {
                    if !placed.contains(c) && !exempt_skip.contains(c) {
                        exempt_skip.push(c.clone());
                    }
                }
            }
            let days_left = days_between(today, &ex.expires);
            let status = match days_left {
                Some(d) if d < 0 => "expired",
                Some(d) if d <= EXPIRING_DAYS => "expiring",
                _ => "active",
            };
            let mut owners: Vec<String> = covered.iter().map(|c| owner_of(c)).collect();
            owners.sort();
            owners.dedup();
            exemptions.push(ExemptionRow {
                policy: u.name.clone(),
                index: i + 1,
                status,
                expires: ex.expires.clone(),
                days_left: days_left.unwrap_or(0),
                effect: match ex.effect {
                    Effect::Audit => "audit",
                    Effect::Skip => "skip",
                },
                clusters: covered,
                owners,
                approved_by: ex.approved_by.clone(),
                reason: ex.reason.clone(),
                location: format!("{}:{}", ex.expires_span.path(), ex.expires_span.line()),
            });
        }
        exempt_skip.sort();
        policies.push(PolicyRow {
            name: u.name.clone(),
            engine: match spec.engine {
                crate::load::model::Engine::Kyverno => "kyverno",
                crate::load::model::Engine::Gatekeeper => "gatekeeper",
                crate::load::model::Engine::Kubernetes => "kubernetes",
                crate::load::model::Engine::None => "none",
            },
            mode: spec.mode.as_str(),
            exemptible: spec.exemptible,
            enforce,
            audit,
            exempt_audit,
            exempt_skip,
        });
    }
    policies.sort_by(|a, b| a.name.cmp(&b.name));
    // Most urgent first: expired, then expiring, then active; by date within each.
    exemptions.sort_by(|a, b| {
        (status_rank(a.status), &a.expires, &a.policy, a.index).cmp(&(
            status_rank(b.status),
            &b.expires,
            &b.policy,
            b.index,
        ))
    });

    let findings: Vec<Finding> = diags
        .items
        .iter()
        .map(|d| Finding {
            severity: if d.severity == Severity::Error {
                "error"
            } else {
                "warning"
            },
            message: d.message.clone(),
            location: d.span.as_ref().map(|s| s.location()),
            clusters: d.clusters.clone(),
        })
        .collect();

    let policies_n = repo.units.iter().filter(|u| u.policy.is_some()).count();
    let summary = Summary {
        clusters: clusters.len(),
        groups: repo.groups.len(),
        components: repo.units.len() - policies_n,
        policies: policies_n,
        placements: repo.placements.len(),
        kubernetes_versions: kubernetes_versions.len(),
        skewed_components: components.iter().filter(|c| c.skew).count(),
        rollouts_in_flight: components
            .iter()
            .flat_map(|c| &c.rollouts)
            .filter(|r| r.in_flight)
            .count(),
        exemptions_expired: exemptions.iter().filter(|e| e.status == "expired").count(),
        exemptions_expiring: exemptions.iter().filter(|e| e.status == "expiring").count(),
        errors: findings.iter().filter(|f| f.severity == "error").count(),
        warnings: findings.iter().filter(|f| f.severity == "warning").count(),
    };
    Report {
        api_version: "fleetc.dev/v1alpha1",
        kind: "FleetReport",
        fleet: repo
            .fleet
            .as_ref()
            .map(|f| f.name.clone())
            .unwrap_or_default(),
        today: today.to_string(),
        source_revision: source_revision.map(str::to_string),
        summary,
        clusters,
        kubernetes_versions,
        components,
        policies,
        exemptions,
        upgrade_readiness: upgrade::build(repo, blockers),
        admission: admission::build(admission_results),
        findings,
    }
}

/// Exemption statuses, most urgent first (the report's order).
pub fn status_rank(status: &str) -> u8 {
    match status {
        "expired" => 0,
        "expiring" => 1,
        _ => 2,
    }
}

impl ClusterRow {
    /// Has a rollout promoted `component` on this cluster?
    pub fn promoted(&self, component: &str) -> bool {
        self.waves
            .iter()
            .any(|w| w.component == component && w.promoted)
    }
}

impl RolloutRow {
    /// `canary ✓ (3) → early ✓ (3) → broad (7)`: waves in order, ✓ when
    /// promoted, with their number of clusters (unescaped).
    pub fn waves_summary(&self) -> String {
        self.waves
            .iter()
            .map(|w| {
                format!(
                    "{}{} ({})",
                    w.name,
                    if w.promoted { " ✓" } else { "" },
                    w.clusters.len()
                )
            })
            .collect::<Vec<_>>()
            .join(" → ")
    }
}

impl PolicyRow {
    /// The clusters where the policy is not enforced, by posture.
    pub fn not_enforced(&self) -> [(&'static str, &[String]); 3] {
        [
            ("audit", &self.audit),
            ("exempt-audit", &self.exempt_audit),
            ("exempt-skip", &self.exempt_skip),
        ]
    }
}

/// Days from `from` to `to` (both YYYY-MM-DD); None when either is not a date.
pub fn days_between(from: &str, to: &str) -> Option<i64> {
    Some(crate::date::days_of(to)? - crate::date::days_of(from)?)
}

impl Report {
    /// Every rollout with its component.
    pub fn rollouts(&self) -> impl Iterator<Item = (&ComponentRow, &RolloutRow)> {
        self.components
            .iter()
            .flat_map(|c| c.rollouts.iter().map(move |ro| (c, ro)))
    }

    /// The `json` format: pretty, with a final newline.
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_by_number() {
        use std::cmp::Ordering::*;
        assert_eq!(version_cmp("1.9.0", "1.10.0"), Less);
        assert_eq!(version_cmp("v1.30.1", "1.30.1"), Greater);
        assert_eq!(version_cmp("1.30", "1.30.1"), Less);
        assert_eq!(version_cmp("2.54.1", "2.53.0"), Greater);
        assert_eq!(minor_of("1.30.4"), "1.30");
    }

    #[test]
    fn days_between_dates() {
        assert_eq!(days_between("2026-11-21", "2026-11-21"), Some(0));
        assert_eq!(days_between("2026-12-31", "2027-01-01"), Some(1));
        assert_eq!(days_between("2024-02-28", "2024-03-01"), Some(2));
        assert_eq!(days_between("2030-07-01", "2030-06-30"), Some(-1));
        assert_eq!(days_between("2030-07-01", "nope"), None);
    }
}
