//! Which objects an admission policy sees: label selectors, the resource
//! rules of `matchConstraints`/`matchResources`, and the names the API
//! server gives resources (plural, group).

use serde_json::Value as Json;

/// Does a Kubernetes label selector (`matchLabels`, `matchExpressions`)
/// select `labels`? An absent selector selects everything; an empty one
/// too. An operator fleetc does not know selects nothing (and the API
/// server would have refused the policy).
pub fn selects(selector: Option<&Json>, labels: &Json) -> bool {
    let Some(sel) = selector.filter(|s| !s.is_null()) else {
        return true;
    };
    let label = |k: &str| labels.get(k).and_then(Json::as_str);
    if let Some(m) = sel.get("matchLabels").and_then(Json::as_object) {
        for (k, v) in m {
            if label(k) != v.as_str() {
                return false;
            }
        }
    }
    for e in sel
        .get("matchExpressions")
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
    {
        let key = e.get("key").and_then(Json::as_str).unwrap_or_default();
        let values: Vec<&str> = e
            .get("values")
            .and_then(Json::as_array)
            .map(|v| v.iter().filter_map(Json::as_str).collect())
            .unwrap_or_default();
        let have = label(key);
        let ok = match e.get("operator").and_then(Json::as_str) {
            Some("In") => have.is_some_and(|h| values.contains(&h)),
            Some("NotIn") => have.is_none_or(|h| !values.contains(&h)),
            Some("Exists") => have.is_some(),
            Some("DoesNotExist") => have.is_none(),
            _ => false,
        };
        if !ok {
            return false;
        }
    }
    true
}

/// The resource name the API server gives a kind of the built-in API (its
/// REST mapper's rule: lower case, `-y` → `-ies`, `-s`/`-x`/`-ch`/`-sh` →
/// `-es`, else `-s`). Custom resources take their CRD's `names.plural`.
pub fn plural(kind: &str) -> String {
    let k = kind.to_ascii_lowercase();
    if k == "endpoints" {
        return k;
    }
    if let Some(stem) = k.strip_suffix('y') {
        if !stem.ends_with(['a', 'e', 'i', 'o', 'u']) {
            return format!("{stem}ies");
        }
    }
    if k.ends_with('s') || k.ends_with('x') || k.ends_with("ch") || k.ends_with("sh") {
        return format!("{k}es");
    }
    format!("{k}s")
}

/// What a request for one object looks like to the matching rules.
pub struct Request<'a> {
    pub group: &'a str,
    pub version: &'a str,
    pub kind: &'a str,
    pub resource: &'a str,
    pub name: &'a str,
    pub namespaced: bool,
}

fn strings(v: Option<&Json>) -> Vec<&str> {
    v.and_then(Json::as_array)
        .map(|a| a.iter().filter_map(Json::as_str).collect())
        .unwrap_or_default()
}

fn any_or(list: &[&str], want: &str) -> bool {
    list.iter().any(|x| *x == "*" || *x == want)
}

/// Does one `resourceRules` entry (`apiGroups`, `apiVersions`,
/// `resources`, `operations`, `scope`, `resourceNames`) cover a CREATE of
/// this object? Subresources (`pods/status`) never cover the object itself.
pub fn rule_covers(rule: &Json, r: &Request) -> bool {
    let ops = strings(rule.get("operations"));
    if !any_or(&ops, "CREATE") {
        return false;
    }
    if !any_or(&strings(rule.get("apiGroups")), r.group)
        || !any_or(&strings(rule.get("apiVersions")), r.version)
    {
        return false;
    }
    let resources = strings(rule.get("resources"));
    // `*` and `*/*` cover every resource; `pods/*` only subresources.
    if !resources
        .iter()
        .any(|x| *x == "*" || *x == "*/*" || *x == r.resource)
    {
        return false;
    }
    match rule.get("scope").and_then(Json::as_str) {
        Some("Cluster") if r.namespaced => return false,
        Some("Namespaced") if !r.namespaced => return false,
        _ => {}
    }
    let names = strings(rule.get("resourceNames"));
    names.is_empty() || names.contains(&r.name)
}

/// Does a `matchConstraints` / `matchResources` block select the object?
/// `resourceRules` (at least one covers it; absent: all, for a binding's
/// `matchResources`), `excludeResourceRules` (none covers it),
/// `namespaceSelector` (on `namespace_labels`: the object's namespace's,
/// a Namespace's own; None, for another cluster-scoped object, passes), and
/// `objectSelector` (the object's labels).
pub fn resources_match(
    m: Option<&Json>,
    r: &Request,
    object_labels: &Json,
    namespace_labels: Option<&Json>,
    rules_required: bool,
) -> bool {
    let Some(m) = m.filter(|m| !m.is_null()) else {
        return !rules_required;
    };
    match m.get("resourceRules").and_then(Json::as_array) {
        Some(rules) if !rules.iter().any(|rule| rule_covers(rule, r)) => return false,
        None if rules_required => return false,
        _ => {}
    }
    if m.get("excludeResourceRules")
        .and_then(Json::as_array)
        .is_some_and(|rules| rules.iter().any(|rule| rule_covers(rule, r)))
    {
        return false;
    }
    namespace_labels.is_none_or(|l| selects(m.get("namespaceSelector"), l))
        && selects(m.get("objectSelector"), object_labels)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn plurals() {
        for (k, p) in [
            ("Pod", "pods"),
            ("NetworkPolicy", "networkpolicies"),
            ("Ingress", "ingresses"),
            ("Endpoints", "endpoints"),
            ("Gateway", "gateways"),
            ("StorageClass", "storageclasses"),
            ("Deployment", "deployments"),
        ] {
            assert_eq!(plural(k), p);
        }
    }

    #[test]
    fn selectors() {
        let labels = json!({"env": "prod", "team": "a"});
        assert!(selects(None, &labels));
        assert!(selects(Some(&json!({})), &labels));
        assert!(selects(
            Some(&json!({"matchLabels": {"env": "prod"}})),
            &labels
        ));
        assert!(!selects(
            Some(&json!({"matchLabels": {"env": "dev"}})),
            &labels
        ));
        let expr = |op: &str, values: Json| json!({"matchExpressions": [{"key": "team", "operator": op, "values": values}]});
        assert!(selects(Some(&expr("In", json!(["a", "b"]))), &labels));
        assert!(!selects(Some(&expr("NotIn", json!(["a"]))), &labels));
        assert!(selects(Some(&expr("Exists", Json::Null)), &labels));
        assert!(!selects(Some(&expr("DoesNotExist", Json::Null)), &labels));
        assert!(!selects(Some(&expr("Gt", json!(["1"]))), &labels));
        assert!(selects(Some(&expr("NotIn", json!(["x"]))), &json!({})));
    }
}
