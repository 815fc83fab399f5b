//! Kyverno's classic policies: `ClusterPolicy` and `Policy` rules with
//! `validate` (`pattern`, `anyPattern`, `deny`, `foreach`, `podSecurity`,
//! `cel`), their `match`/`exclude`, `preconditions` and `context`, rule
//! auto-generation for Pod controllers, `failureActionOverrides`, and the
//! `PolicyException`s rendered on the cluster.
//!
//! What only the live cluster knows — who applies (`subjects`, `roles`,
//! `request.userInfo`), external calls (`apiCall` to a service, image
//! registries) — makes a rule `skip`, with the reason; mutate, generate and
//! verifyImages rules change or create objects at admission and are
//! skipped too.

pub mod jmes;
pub mod pattern;
pub mod pss;

use std::sync::Arc;

use serde_json::Value as Json;

use super::cel::{self, CelError, Inputs};
use super::{Cluster, Engine, Finding, Outcome, Subject};

/// Pod controllers that auto-generated rules cover by default.
const CONTROLLERS: &[&str] = &[
    "DaemonSet",
    "Deployment",
    "Job",
    "StatefulSet",
    "ReplicaSet",
    "ReplicationController",
    "CronJob",
];

/// A policy's rules with the auto-generated ones for Pod controllers:
/// (rule name, rule).
pub fn rules(policy: &Json) -> Vec<(String, Json)> {
    let controllers: Vec<&str> = match policy["metadata"]["annotations"]
        ["pod-policies.kyverno.io/autogen-controllers"]
        .as_str()
    {
        Some("none") => Vec::new(),
        Some(list) => list.split(',').map(str::trim).collect(),
        None => CONTROLLERS.to_vec(),
    };
    let mut out = Vec::new();
    for rule in policy["spec"]["rules"].as_array().into_iter().flatten() {
        let name = rule["name"].as_str().unwrap_or_default().to_string();
        out.push((name.clone(), rule.clone()));
        if !pod_only(rule) {
            continue;
        }
        let plain: Vec<&str> = controllers
            .iter()
            .copied()
            .filter(|c| *c != "CronJob")
            .collect();
        if !plain.is_empty() {
            out.push((
                format!("autogen-{name}"),
                autogen(rule, &plain, &["spec", "template"]),
            ));
        }
        if controllers.contains(&"CronJob") {
            out.push((
                format!("autogen-cronjob-{name}"),
                autogen(
                    rule,
                    &["CronJob"],
                    &["spec", "jobTemplate", "spec", "template"],
                ),
            ));
        }
    }
    out
}

/// The resource filters of a match or exclude block.
fn filters(block: &Json) -> Vec<&Json> {
    let mut out: Vec<&Json> = Vec::new();
    for k in ["any", "all"] {
        out.extend(block[k].as_array().into_iter().flatten());
    }
    if block.get("resources").is_some() {
        out.push(block);
    }
    out
}

/// A rule that matches Pods only (and validates): Kyverno generates its
/// controllers' rules from it.
fn pod_only(rule: &Json) -> bool {
    if rule.get("validate").is_none() {
        return false;
    }
    let all = filters(&rule["match"]);
    !all.is_empty()
        && all.iter().all(|f| {
            f["resources"]["kinds"].as_array().is_some_and(|k| {
                !k.is_empty()
                    && k.iter()
                        .all(|x| matches!(x.as_str(), Some("Pod" | "v1/Pod")))
            })
        })
}

/// A Pod rule rewritten for controllers whose pod template is at `at`.
fn autogen(rule: &Json, kinds: &[&str], at: &[&str]) -> Json {
    let mut r = rule.clone();
    let kinds: Vec<Json> = kinds.iter().map(|k| Json::String(k.to_string())).collect();
    for block in ["match", "exclude"] {
        for k in ["any", "all"] {
            if let Some(list) = r[block][k].as_array_mut() {
                for f in list {
                    if f["resources"].get("kinds").is_some() {
                        f["resources"]["kinds"] = Json::Array(kinds.clone());
                    }
                }
            }
        }
        if r[block]["resources"].get("kinds").is_some() {
            r[block]["resources"]["kinds"] = Json::Array(kinds.clone());
        }
    }
    let wrap = |p: Json| {
        let mut v = p;
        for key in at.iter().rev() {
            v = serde_json::json!({ *key: v });
        }
        v
    };
    let validate = &mut r["validate"];
    if let Some(p) = validate.get("pattern").cloned() {
        validate["pattern"] = wrap(p);
    }
    if let Some(ps) = validate.get("anyPattern").and_then(Json::as_array).cloned() {
        validate["anyPattern"] = Json::Array(ps.into_iter().map(wrap).collect());
    }
    // Paths into the pod move under the template, in variables (and the
    // `object` of CEL).
    let template = at.join(".");
    let rewrite = |s: &str| {
        let s = under(
            s,
            "request.object.spec",
            &format!("request.object.{template}.spec"),
        );
        let s = under(
            &s,
            "request.object.metadata",
            &format!("request.object.{template}.metadata"),
        );
        under(&s, "object.spec", &format!("object.{template}.spec"))
    };
    for key in ["deny", "foreach", "preconditions", "cel", "message"] {
        let holder = if key == "preconditions" {
            r.as_object_mut()
        } else {
            r["validate"].as_object_mut()
        };
        // Only what the rule has (indexing a missing key would add a null).
        if let Some(target) = holder.and_then(|m| m.get_mut(key)) {
            *target = map_strings(target, &rewrite);
        }
    }
    r
}

/// Replace the path `from` with `to` where it starts a path (not inside a
/// longer name: `object.spec` in `request.object.spec` is left to its own
/// rewrite) and where `to` is not already there.
fn under(s: &str, from: &str, to: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find(from) {
        let before = rest[..i].chars().next_back();
        let starts_path =
            !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_');
        let after = &rest[i + from.len()..];
        let continues = after.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_');
        let done = rest[i..].starts_with(to);
        out.push_str(&rest[..i]);
        if starts_path && !continues && !done {
            out.push_str(to);
        } else {
            out.push_str(from);
        }
        rest = after;
    }
    out.push_str(rest);
    out
}

fn map_strings(v: &Json, f: &dyn Fn(&str) -> String) -> Json {
    match v {
        Json::String(s) => Json::String(f(s)),
        Json::Array(a) => Json::Array(a.iter().map(|x| map_strings(x, f)).collect()),
        Json::Object(m) => Json::Object(
            m.iter()
                .map(|(k, x)| (k.clone(), map_strings(x, f)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Does a Kyverno kind (`Pod`, `v1/Pod`, `apps/v1/Deployment`, wildcards)
/// name the object's kind?
fn kind_matches(spec: &str, group: &str, version: &str, kind: &str) -> bool {
    if spec.contains('.') && !spec.contains('/') {
        return false;
    }
    let parts: Vec<&str> = spec.split('/').collect();
    let (g, v, k) = match parts.as_slice() {
        [k] => (None, None, *k),
        [v, k] => (None, Some(*v), *k),
        [g, v, k] => (Some(*g), Some(*v), *k),
        _ => return false,
    };
    pattern::wildcard(k, kind)
        && v.is_none_or(|v| pattern::wildcard(v, version))
        && g.is_none_or(|g| pattern::wildcard(g, group))
}

/// Does one resource filter select the object? Err(reason) when it asks
/// who applies.
fn filter_matches(f: &Json, s: &Subject, cluster: &Cluster) -> Result<bool, &'static str> {
    if ["subjects", "roles", "clusterRoles"]
        .iter()
        .any(|k| f.get(*k).is_some_and(|x| !x.is_null()))
    {
        return Err("it matches on who makes the request (subjects, roles), which is only known when someone applies");
    }
    let r = &f["resources"];
    let req = s.req();
    let strs = |k: &str| -> Option<Vec<&str>> {
        r[k].as_array()
            .map(|a| a.iter().filter_map(Json::as_str).collect())
    };
    if let Some(kinds) = strs("kinds") {
        if !kinds
            .iter()
            .any(|k| kind_matches(k, req.group, req.version, req.kind))
        {
            return Ok(false);
        }
    }
    if let Some(ops) = strs("operations") {
        if !ops.contains(&"CREATE") {
            return Ok(false);
        }
    }
    let mut names = strs("names").unwrap_or_default();
    if let Some(n) = r["name"].as_str() {
        names.push(n);
    }
    if !names.is_empty() && !names.iter().any(|n| pattern::wildcard(n, &s.name)) {
        return Ok(false);
    }
    if let Some(nss) = strs("namespaces") {
        if !s
            .match_namespace()
            .is_some_and(|ns| nss.iter().any(|p| pattern::wildcard(p, ns)))
        {
            return Ok(false);
        }
    }
    if let Some(ann) = r["annotations"].as_object() {
        let have = &s.json()["metadata"]["annotations"];
        let ok = ann.iter().all(|(k, v)| {
            have[k]
                .as_str()
                .is_some_and(|h| pattern::wildcard(v.as_str().unwrap_or_default(), h))
        });
        if !ok {
            return Ok(false);
        }
    }
    if !super::select::selects(r.get("selector"), s.labels()) {
        return Ok(false);
    }
    if let Some(sel) = r.get("namespaceSelector").filter(|x| !x.is_null()) {
        let labels = s.match_namespace_labels(cluster).unwrap_or(&Json::Null);
        if !super::select::selects(Some(sel), labels) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Does a match (or exclude) block select the object?
fn block_matches(block: &Json, s: &Subject, cluster: &Cluster) -> Result<bool, &'static str> {
    if block.is_null() {
        return Ok(false);
    }
    if let Some(any) = block["any"].as_array() {
        for f in any {
            if filter_matches(f, s, cluster)? {
                return Ok(true);
            }
        }
        return Ok(false);
    }
    if let Some(all) = block["all"].as_array() {
        for f in all {
            if !filter_matches(f, s, cluster)? {
                return Ok(false);
            }
        }
        return Ok(!all.is_empty());
    }
    if block.get("resources").is_some() {
        return filter_matches(block, s, cluster);
    }
    Ok(false)
}

/// Whether text reads what only the live request knows.
fn reads_requester(rule: &Json) -> bool {
    let text = rule.to_string();
    [
        "request.userInfo",
        "serviceAccountName",
        "serviceAccountNamespace",
        "request.roles",
        "request.clusterRoles",
    ]
    .iter()
    .any(|k| text.contains(k))
}

/// Whether any rule of the policy may apply to the object (its `match`
/// alone; a rule that asks who applies counts, as it reports a skip).
pub fn may_apply(policy: &Json, rules: &[(String, Json)], s: &Subject, cluster: &Cluster) -> bool {
    if policy["kind"].as_str() == Some("Policy")
        && s.namespace.as_deref() != policy["metadata"]["namespace"].as_str()
    {
        return false;
    }
    rules
        .iter()
        .any(|(_, r)| block_matches(&r["match"], s, cluster).unwrap_or(true))
}

/// A policy (ClusterPolicy or Policy) and what it runs with.
pub struct Kyverno<'a> {
    pub policy: &'a Json,
    /// Its rules, auto-generated ones included ([`rules`]).
    pub rules: &'a [(String, Json)],
    /// The PolicyExceptions rendered on the cluster.
    pub exceptions: &'a [&'a Json],
    /// "Today" (YYYY-MM-DD), for exceptions' expiry.
    pub today: &'a str,
    pub budget: u64,
    pub compile: &'a dyn Fn(&str) -> Result<Arc<cel::Program>, CelError>,
    /// The CEL variables its `validate.cel` reads besides `object`.
    pub roots: u8,
}

impl Kyverno<'_> {
    /// The name reports give the policy: `name`, or `namespace/name` for a
    /// namespaced Policy.
    pub fn name(&self) -> String {
        let m = &self.policy["metadata"];
        let name = m["name"].as_str().unwrap_or_default();
        match (self.policy["kind"].as_str(), m["namespace"].as_str()) {
            (Some("Policy"), Some(ns)) => format!("{ns}/{name}"),
            _ => name.to_string(),
        }
    }

    /// The rule's action on this object: the rule's `failureAction`, a
    /// matching `failureActionOverrides` entry, the policy's
    /// `validationFailureAction`; `Audit` when none says.
    fn action(&self, rule: &Json, s: &Subject, cluster: &Cluster) -> String {
        let spec = &self.policy["spec"];
        for o in spec["failureActionOverrides"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let in_ns = |ns: &str| {
                o["namespaces"].as_array().is_some_and(|l| {
                    l.iter()
                        .filter_map(Json::as_str)
                        .any(|p| pattern::wildcard(p, ns))
                })
            };
            let by_selector = o.get("namespaceSelector").is_some_and(|sel| {
                s.namespace_labels(cluster)
                    .is_some_and(|l| super::select::selects(Some(sel), l))
            });
            if s.namespace.as_deref().is_some_and(in_ns) || by_selector {
                if let Some(a) = o["action"].as_str() {
                    return a.to_string();
                }
            }
        }
        rule["validate"]["failureAction"]
            .as_str()
            .or(spec["validationFailureAction"].as_str())
            .unwrap_or("Audit")
            .to_string()
    }

    /// Evaluate every rule of the policy on one object.
    pub fn evaluate(&self, s: &Subject, cluster: &Cluster) -> Option<Vec<Finding>> {
        // A namespaced Policy sees only its own namespace.
        if self.policy["kind"].as_str() == Some("Policy")
            && s.namespace.as_deref() != self.policy["metadata"]["namespace"].as_str()
        {
            return None;
        }
        let mut out = Vec::new();
        // The variables every rule sees, built once per object.
        let base = s.kyverno_context();
        for (name, rule) in self.rules {
            if let Some(f) = self.rule(name, rule, s, cluster, base) {
                out.push(f);
            }
        }
        (!out.is_empty()).then_some(out)
    }

    fn finding(&self, rule: &str, outcome: Outcome, message: String, action: &str) -> Finding {
        Finding {
            engine: Engine::Kyverno,
            policy: self.name(),
            binding: None,
            rule: rule.to_string(),
            outcome,
            message,
            enforce: action.eq_ignore_ascii_case("enforce"),
            actions: action.to_string(),
        }
    }

    /// One rule: None when it does not apply to the object.
    fn rule(
        &self,
        name: &str,
        rule: &Json,
        s: &Subject,
        cluster: &Cluster,
        base: &Json,
    ) -> Option<Finding> {
        let action = self.action(rule, s, cluster);
        let skip = |why: String| Some(self.finding(name, Outcome::Skip, why, &action));
        match block_matches(&rule["match"], s, cluster) {
            Ok(true) => {}
            Ok(false) => return None,
            Err(why) => return skip(why.to_string()),
        }
        match block_matches(&rule["exclude"], s, cluster) {
            Ok(false) => {}
            Ok(true) => return None,
            Err(why) => return skip(why.to_string()),
        }
        for kind in ["mutate", "generate", "verifyImages"] {
            if rule.get(kind).is_some() {
                return skip(format!(
                    "{kind} rules change or create objects at admission; fleetc only validates"
                ));
            }
        }
        rule.get("validate")?;
        if reads_requester(rule) {
            return skip("it reads who makes the request (userInfo, service account, roles), which is only known when someone applies".into());
        }
        if let Some(e) = self.exception(name, s, cluster) {
            return skip(format!("PolicyException {e} exempts it"));
        }
        // A rule with `context` entries adds to the variables: its own copy.
        let own;
        let data = if rule.get("context").is_some() {
            let mut d = base.clone();
            if let Err(why) = self.load_context(rule, &mut d, cluster) {
                return Some(self.outcome_error(name, why, &action));
            }
            own = d;
            &own
        } else {
            base
        };
        match rule.get("preconditions").map(|p| jmes::conditions(p, data)) {
            None | Some(Ok(true)) => {}
            Some(Ok(false)) => return None,
            Some(Err(e)) => return Some(self.outcome_error(name, e, &action)),
        }
        let (outcome, message) = self.validate(name, &rule["validate"], s, cluster, data);
        Some(self.finding(name, outcome, message, &action))
    }

    fn outcome_error(&self, rule: &str, why: String, action: &str) -> Finding {
        let outcome = if why.starts_with("offline:") {
            Outcome::Skip
        } else {
            Outcome::Error
        };
        self.finding(
            rule,
            outcome,
            why.trim_start_matches("offline: ").to_string(),
            action,
        )
    }

    /// The rule's `context`: `variable` entries (JMESPath or values) and
    /// `configMap` lookups answered from the cluster's objects. API calls
    /// and global context entries need the live cluster.
    fn load_context(&self, rule: &Json, data: &mut Json, cluster: &Cluster) -> Result<(), String> {
        for entry in rule["context"].as_array().into_iter().flatten() {
            let name = entry["name"].as_str().unwrap_or_default().to_string();
            let value = if let Some(v) = entry.get("variable") {
                let base = match v.get("value") {
                    Some(x) => jmes::substitute(x, data)?,
                    None => data.clone(),
                };
                let got = match v["jmesPath"].as_str() {
                    Some(p) => jmes::search(p, &base)?,
                    None => base,
                };
                match (got, v.get("default")) {
                    (Json::Null, Some(d)) => d.clone(),
                    (g, _) => g,
                }
            } else if let Some(cm) = entry.get("configMap") {
                let cm = jmes::substitute(cm, data)?;
                let (n, ns) = (cm["name"].as_str(), cm["namespace"].as_str());
                cluster
                    .objects
                    .iter()
                    .find(|o| {
                        o.kind == "ConfigMap"
                            && Some(o.name.as_str()) == n
                            && o.namespace.as_deref() == ns
                    })
                    .map(|o| o.json().as_ref().clone())
                    .ok_or_else(|| {
                        format!(
                            "context {name}: no ConfigMap {}/{} on the cluster",
                            ns.unwrap_or_default(),
                            n.unwrap_or_default()
                        )
                    })?
            } else if let Some(call) = entry.get("apiCall") {
                api_call(&name, call, data, cluster)?
            } else {
                return Err("offline: its context reads Kyverno's global context or an image registry (globalReference, imageRegistry)".into());
            };
            data[name] = value;
        }
        Ok(())
    }

    /// The PolicyException that exempts this rule for this object, if any
    /// (expired ones do not: `cleanup.kyverno.io/ttl` as a date, against
    /// "today").
    fn exception(&self, rule: &str, s: &Subject, cluster: &Cluster) -> Option<String> {
        let policy = self.name();
        for e in self.exceptions {
            let names = e["spec"]["exceptions"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|x| {
                    x["policyName"].as_str() == Some(policy.as_str())
                        && x["ruleNames"].as_array().is_some_and(|r| {
                            r.iter()
                                .filter_map(Json::as_str)
                                .any(|p| pattern::wildcard(p, rule))
                        })
                });
            if !names || !block_matches(&e["spec"]["match"], s, cluster).unwrap_or(false) {
                continue;
            }
            if let Some(ttl) = e["metadata"]["labels"]["cleanup.kyverno.io/ttl"].as_str() {
                if ttl.len() >= 10 && ttl[..10] < *self.today {
                    continue;
                }
            }
            if let Some(c) = e["spec"].get("conditions") {
                if !jmes::conditions(c, s.kyverno_context()).unwrap_or(false) {
                    continue;
                }
            }
            let m = &e["metadata"];
            return Some(format!(
                "{}/{}",
                m["namespace"].as_str().unwrap_or_default(),
                m["name"].as_str().unwrap_or_default()
            ));
        }
        None
    }

    /// The `validate` block: (outcome, message).
    fn validate(
        &self,
        name: &str,
        v: &Json,
        s: &Subject,
        cluster: &Cluster,
        data: &Json,
    ) -> (Outcome, String) {
        // The message is built when the rule fails, as Kyverno builds it.
        let failed_in = |detail: String, data: &Json| {
            let message = match v.get("message").map(|m| jmes::substitute(m, data)) {
                Some(Ok(Json::String(m))) => m,
                Some(Ok(other)) => other.to_string(),
                Some(Err(e)) => format!("(its message cannot be built: {e})"),
                None => String::new(),
            };
            let text = if message.is_empty() {
                format!("validation error: rule {name} failed: {detail}")
            } else {
                format!("{} ({detail})", message.trim())
            };
            (Outcome::Fail, text)
        };
        let failed = |detail: String| failed_in(detail, data);
        let object = s.json().as_ref();
        if let Some(p) = v.get("pattern") {
            return match pattern_result(object, std::slice::from_ref(p), data) {
                Ok(None) => (Outcome::Pass, String::new()),
                Ok(Some(Skipped::Skip(why))) => (Outcome::Skip, why),
                Ok(Some(Skipped::Fail(why))) => failed(why),
                Err(e) => (Outcome::Error, e),
            };
        }
        if let Some(ps) = v["anyPattern"].as_array() {
            return match pattern_result(object, ps, data) {
                Ok(None) => (Outcome::Pass, String::new()),
                Ok(Some(Skipped::Skip(why))) => (Outcome::Skip, why),
                Ok(Some(Skipped::Fail(why))) => failed(why),
                Err(e) => (Outcome::Error, e),
            };
        }
        if let Some(d) = v.get("deny") {
            return match jmes::conditions(d.get("conditions").unwrap_or(&Json::Null), data) {
                Ok(true) => failed("the deny conditions hold".into()),
                Ok(false) => (Outcome::Pass, String::new()),
                Err(e) => (Outcome::Error, e),
            };
        }
        if let Some(f) = v["foreach"].as_array() {
            return match foreach(f, data, 0) {
                Ok(None) => (Outcome::Pass, String::new()),
                // The message sees the element that failed.
                Ok(Some((why, at))) => failed_in(why, &at),
                Err(e) => (Outcome::Error, e),
            };
        }
        if let Some(ps) = v.get("podSecurity") {
            let level = ps["level"].as_str().unwrap_or("baseline");
            let Some((spec, meta)) = pss::pod_spec(&s.kind, object) else {
                return (Outcome::Pass, String::new());
            };
            let exclude = ps["exclude"].as_array().cloned().unwrap_or_default();
            let v = pss::check(level, spec, meta, &exclude);
            return if v.is_empty() {
                (Outcome::Pass, String::new())
            } else {
                failed(format!("violates Pod Security {level}: {}", v.join("; ")))
            };
        }
        if let Some(c) = v.get("cel") {
            return self.cel(c, s, cluster);
        }
        (
            Outcome::Skip,
            "the rule validates in a way fleetc does not evaluate".into(),
        )
    }

    /// `validate.cel`: `expressions` (with `variables`) as in a VAP.
    fn cel(&self, c: &Json, s: &Subject, cluster: &Cluster) -> (Outcome, String) {
        let mut inputs = Inputs::default();
        s.share(&mut inputs, cluster, self.roots);
        let scope = s.scope(cluster, self.roots);
        let run = |src: &str, inputs: &Inputs| -> Result<Json, CelError> {
            let p = (self.compile)(src)?;
            cel::eval_in(&p, Some(scope), inputs, self.budget).map(|v| cel::to_json(&v))
        };
        let error = |e: CelError| match e {
            CelError::Offline(w) => (Outcome::Skip, w.to_string()),
            CelError::Budget { .. } | CelError::TooComplex(_) => (Outcome::Budget, e.to_string()),
            other => (Outcome::Error, other.to_string()),
        };
        let mut vars = serde_json::Map::new();
        for v in c["variables"].as_array().into_iter().flatten() {
            inputs.set("variables", Arc::new(Json::Object(vars.clone())));
            match run(v["expression"].as_str().unwrap_or_default(), &inputs) {
                Ok(x) => {
                    vars.insert(v["name"].as_str().unwrap_or_default().to_string(), x);
                }
                Err(e) => return error(e),
            }
        }
        inputs.set("variables", Arc::new(Json::Object(vars)));
        for e in c["expressions"].as_array().into_iter().flatten() {
            match run(e["expression"].as_str().unwrap_or_default(), &inputs) {
                Ok(Json::Bool(true)) => {}
                Ok(Json::Bool(false)) => {
                    let m = e["messageExpression"]
                        .as_str()
                        .and_then(|m| run(m, &inputs).ok())
                        .and_then(|m| m.as_str().map(String::from))
                        .or_else(|| e["message"].as_str().map(String::from))
                        .unwrap_or_else(|| {
                            format!(
                                "failed expression: {}",
                                e["expression"].as_str().unwrap_or_default()
                            )
                        });
                    return (Outcome::Fail, m);
                }
                Ok(other) => {
                    return (
                        Outcome::Error,
                        format!("expression gave {other}, not a bool"),
                    )
                }
                Err(err) => return error(err),
            }
        }
        (Outcome::Pass, String::new())
    }
}

/// A context `apiCall`: a GET of Kubernetes objects, answered from the
/// objects rendered on the cluster (and the namespaces it declares); its
/// `jmesPath` then applies, and `default` stands in for what is missing.
/// Calls to services, other methods and queries need the live cluster.
fn api_call(name: &str, call: &Json, data: &Json, cluster: &Cluster) -> Result<Json, String> {
    if call.get("service").is_some() {
        return Err("offline: its context calls an external service (apiCall.service)".into());
    }
    if call["method"].as_str().is_some_and(|m| m != "GET") {
        return Err("offline: its context sends a request other than GET to the API server".into());
    }
    let path = match jmes::substitute(&call["urlPath"], data)? {
        Json::String(p) => p,
        other => return Err(format!("context {name}: urlPath is {other}, not a path")),
    };
    let got = api_get(&path, cluster).and_then(|v| match call["jmesPath"].as_str() {
        Some(p) => jmes::search(p, &v),
        None => Ok(v),
    });
    match (got, call.get("default")) {
        (Ok(Json::Null) | Err(_), Some(d)) => Ok(d.clone()),
        (Ok(v), _) => Ok(v),
        (Err(e), None) => Err(format!("context {name}: {e}")),
    }
}

/// What the API server would answer to a GET of `path` on this cluster,
/// from its rendered objects: one object, or a list of them.
fn api_get(path: &str, cluster: &Cluster) -> Result<Json, String> {
    if path.contains('?') {
        return Err("offline: its API call has a query (labelSelector, fieldSelector…), which only the cluster answers".into());
    }
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, rest) = match segs.as_slice() {
        ["api", v, rest @ ..] => ("", *v, rest),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => return Err(format!("`{path}` is not a Kubernetes API path")),
    };
    let (namespace, resource, name) = match rest {
        ["namespaces", ns, r] => (Some(*ns), *r, None),
        ["namespaces", ns, r, n] => (Some(*ns), *r, Some(*n)),
        [r] => (None, *r, None),
        [r, n] => (None, *r, Some(*n)),
        _ => return Err(format!("`{path}` is not a path fleetc answers")),
    };
    let mut items: Vec<(Option<&str>, &str, Json)> = if group.is_empty() && resource == "namespaces"
    {
        cluster
            .namespaces
            .iter()
            .map(|(n, o)| (None, n.as_str(), o.clone()))
            .collect()
    } else {
        cluster
            .objects
            .iter()
            .filter(|o| o.req().group == group && o.req().resource == resource)
            .filter(|o| namespace.is_none() || o.namespace.as_deref() == namespace)
            .map(|o| {
                (
                    o.namespace.as_deref(),
                    o.name.as_str(),
                    o.json().as_ref().clone(),
                )
            })
            .collect()
    };
    items.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
    if let Some(n) = name {
        return items
            .into_iter()
            .find(|(_, m, _)| *m == n)
            .map(|(_, _, o)| o)
            .ok_or_else(|| format!("{resource} \"{n}\" not found on the cluster"));
    }
    let kind = items
        .first()
        .and_then(|(_, _, o)| o["kind"].as_str())
        .map_or_else(|| "List".to_string(), |k| format!("{k}List"));
    let api_version = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    Ok(serde_json::json!({
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {},
        "items": items.into_iter().map(|(_, _, o)| o).collect::<Vec<_>>(),
    }))
}

enum Skipped {
    Skip(String),
    Fail(String),
}

/// `pattern` (one) or `anyPattern` (several: any passes): None when it
/// passes.
fn pattern_result(
    object: &Json,
    patterns: &[Json],
    data: &Json,
) -> Result<Option<Skipped>, String> {
    let mut fails = Vec::new();
    let mut skips = Vec::new();
    for p in patterns {
        let p = jmes::substitute(p, data)?;
        match pattern::matches(object, &p) {
            pattern::Matched::Pass => return Ok(None),
            pattern::Matched::Fail(why) => fails.push(why),
            pattern::Matched::Skip(why) | pattern::Matched::GlobalSkip(why) => skips.push(why),
        }
    }
    Ok(Some(match fails.is_empty() {
        true => Skipped::Skip(format!("the pattern does not apply: {}", skips.join("; "))),
        false => Skipped::Fail(fails.join("; ")),
    }))
}

/// `foreach` entries: each `list` element, as `element` (and
/// `elementIndex`), against the entry's `pattern`, `anyPattern`, `deny` or
/// nested `foreach`. Some(why) for the first element that fails.
fn foreach(entries: &[Json], data: &Json, depth: usize) -> Result<Option<(String, Json)>, String> {
    if depth > 8 {
        return Err("foreach nests more than 8 levels".into());
    }
    for entry in entries {
        let list = entry["list"].as_str().unwrap_or_default();
        let items = match jmes::search(list.trim_start_matches("{{").trim_end_matches("}}"), data)?
        {
            Json::Array(a) => a,
            Json::Null => Vec::new(),
            other => vec![other],
        };
        for (i, element) in items.iter().enumerate() {
            let mut d = data.clone();
            d["element"] = element.clone();
            d["elementIndex"] = serde_json::json!(i);
            if let Some(p) = entry.get("preconditions") {
                if !jmes::conditions(p, &d)? {
                    continue;
                }
            }
            let failed = if let Some(p) = entry.get("pattern") {
                match pattern_result(element, std::slice::from_ref(p), &d)? {
                    Some(Skipped::Fail(why)) => Some((why, d.clone())),
                    _ => None,
                }
            } else if let Some(ps) = entry["anyPattern"].as_array() {
                match pattern_result(element, ps, &d)? {
                    Some(Skipped::Fail(why)) => Some((why, d.clone())),
                    _ => None,
                }
            } else if let Some(deny) = entry.get("deny") {
                jmes::conditions(deny.get("conditions").unwrap_or(&Json::Null), &d)?
                    .then(|| ("the deny conditions hold".to_string(), d.clone()))
            } else if let Some(nested) = entry["foreach"].as_array() {
                foreach(nested, &d, depth + 1)?
            } else {
                None
            };
            if let Some((why, at)) = failed {
                return Ok(Some((format!("{list}[{i}]: {why}"), at)));
            }
        }
    }
    Ok(None)
}

/// The variables a rule sees: `request` (a CREATE of the object) and
/// `images` (each container's image, split as Kyverno splits it).
pub(super) fn context(s: &Subject) -> Json {
    let req = s.req();
    serde_json::json!({
        "request": {
            "operation": "CREATE",
            "object": s.json().as_ref(),
            "oldObject": null,
            "name": s.name,
            "namespace": s.namespace.clone().unwrap_or_default(),
            "kind": {"group": req.group, "version": req.version, "kind": req.kind},
            "dryRun": false,
        },
        "images": images(s),
    })
}

fn images(s: &Subject) -> Json {
    let mut out = serde_json::Map::new();
    let Some((spec, _)) = pss::pod_spec(&s.kind, s.json().as_ref()) else {
        return Json::Null;
    };
    for (key, field) in [
        ("containers", "containers"),
        ("initContainers", "initContainers"),
        ("ephemeralContainers", "ephemeralContainers"),
    ] {
        let mut m = serde_json::Map::new();
        for c in spec[field].as_array().into_iter().flatten() {
            if let (Some(name), Some(image)) = (c["name"].as_str(), c["image"].as_str()) {
                m.insert(name.to_string(), image_parts(image));
            }
        }
        if !m.is_empty() {
            out.insert(key.to_string(), Json::Object(m));
        }
    }
    Json::Object(out)
}

/// An image reference split into registry, path, name, tag and digest
/// (Docker Hub when no registry is named).
fn image_parts(image: &str) -> Json {
    let (rest, digest) = image.split_once('@').unwrap_or((image, ""));
    let (registry, path) = match rest.split_once('/') {
        Some((first, p)) if first.contains('.') || first.contains(':') || first == "localhost" => {
            (first, p)
        }
        _ => ("docker.io", rest),
    };
    let (path, tag) = match path.rsplit_once(':') {
        Some((p, t)) if !t.contains('/') => (p, t),
        _ => (path, if digest.is_empty() { "latest" } else { "" }),
    };
    let name = path.rsplit('/').next().unwrap_or(path);
    serde_json::json!({
        "registry": registry, "path": path, "name": name, "tag": tag, "digest": digest,
        "reference": if digest.is_empty() { tag } else { digest },
    })
}
