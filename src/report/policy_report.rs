//! `fleetc report --format policy-report`: the admission results as the
//! Kubernetes Policy WG's reports (`wgpolicyk8s.io/v1alpha2`), which
//! Policy Reporter, Kyverno's UI and other tools read: per cluster, one
//! `ClusterPolicyReport` for cluster-scoped objects and one `PolicyReport`
//! per namespace, each labelled `fleetc.dev/cluster`.
//!
//! Each result is one (policy, rule, object) that the policy matched:
//! `policy` is the policy object's name (`namespace/name` for a namespaced
//! Kyverno Policy; a Gatekeeper constraint's name; a
//! ValidatingAdmissionPolicy's, with its binding in `properties`), `rule`
//! the Kyverno rule, the constraint's kind, or a CEL policy's validation
//! index. No timestamps: the same fleet gives the same reports.

use std::collections::BTreeMap;

use serde_json::{json, Value as Json};

use crate::admit::{Outcome, Reported};
use crate::yaml::Node;

/// Every report, as one YAML stream, clusters in name order; a cluster
/// with no results still gets its (empty) ClusterPolicyReport.
pub fn yaml(clusters: &[String], results: &[Reported]) -> String {
    // (cluster, namespace) -> results; "" is cluster-scoped.
    let mut groups: BTreeMap<(&str, &str), Vec<&Reported>> = BTreeMap::new();
    for c in clusters {
        groups.entry((c.as_str(), "")).or_default();
    }
    for r in results {
        let ns = r.object.namespace.as_deref().unwrap_or("");
        groups.entry((r.cluster.as_str(), ns)).or_default().push(r);
    }
    let mut out = String::new();
    for ((cluster, ns), rs) in &groups {
        let doc = report(cluster, ns, rs);
        out.push_str("---\n");
        out.push_str(&crate::yaml::write::to_yaml(&Node::from_json(
            &doc,
            &crate::diag::Span::file(&crate::diag::Source::new("policy-report", "")),
        )));
    }
    out
}

fn report(cluster: &str, namespace: &str, rs: &[&Reported]) -> Json {
    let mut summary = BTreeMap::from([
        ("pass", 0),
        ("fail", 0),
        ("warn", 0),
        ("error", 0),
        ("skip", 0),
    ]);
    let results: Vec<Json> = rs
        .iter()
        .map(|r| {
            let result = result_of(r);
            *summary.entry(result).or_insert(0) += 1;
            entry(r, result)
        })
        .collect();
    let name = format!("fleetc-{cluster}");
    let labels = json!({"fleetc.dev/cluster": cluster, "app.kubernetes.io/managed-by": "fleetc"});
    let (kind, metadata) = if namespace.is_empty() {
        (
            "ClusterPolicyReport",
            json!({"name": name, "labels": labels}),
        )
    } else {
        (
            "PolicyReport",
            json!({"name": name, "namespace": namespace, "labels": labels}),
        )
    };
    json!({
        "apiVersion": "wgpolicyk8s.io/v1alpha2",
        "kind": kind,
        "metadata": metadata,
        "summary": summary,
        "results": results,
    })
}

/// The report's result: a violation of a policy that only warns is `warn`.
fn result_of(r: &Reported) -> &'static str {
    let f = &r.finding;
    if f.outcome == Outcome::Fail
        && !f.enforce
        && f.actions.split(',').all(|a| a.eq_ignore_ascii_case("warn"))
    {
        return "warn";
    }
    f.outcome.report_result()
}

fn entry(r: &Reported, result: &str) -> Json {
    let f = &r.finding;
    let mut properties = serde_json::Map::new();
    properties.insert(
        "fleetc.dev/mode".into(),
        json!(if f.enforce { "enforce" } else { "audit" }),
    );
    properties.insert("fleetc.dev/actions".into(), json!(f.actions));
    properties.insert("fleetc.dev/source".into(), json!(r.source));
    if let Some(b) = &f.binding {
        properties.insert("binding".into(), json!(b));
    }
    match f.outcome {
        Outcome::Skip => {
            properties.insert("reason".into(), json!(f.message));
        }
        Outcome::Ignored => {
            properties.insert("failurePolicy".into(), json!("Ignore"));
        }
        Outcome::Budget => {
            properties.insert("reason".into(), json!("over the evaluation budget"));
        }
        _ => {}
    }
    let mut resource =
        json!({"apiVersion": r.object.api_version, "kind": r.object.kind, "name": r.object.name});
    if let Some(ns) = &r.object.namespace {
        resource["namespace"] = json!(ns);
    }
    let mut e = json!({
        "policy": f.policy,
        "rule": f.rule,
        "result": result,
        "scored": true,
        "source": f.engine.as_str(),
        "resources": [resource],
        "properties": properties,
    });
    if !f.message.is_empty() && f.outcome != Outcome::Skip {
        e["message"] = json!(f.message);
    }
    e
}
