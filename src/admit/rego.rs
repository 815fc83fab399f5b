//! Gatekeeper: `ConstraintTemplate`s (their Rego, run by `regorus`) and the
//! constraints made from them.
//!
//! As Gatekeeper does: each template is compiled on its own (its `libs`
//! beside it, as `data.lib.*`), tried as Rego v1 and then v0; a constraint
//! selects objects with `spec.match`; its `spec.parameters` and the object
//! under review are the `input` (`input.parameters`, `input.review`), and
//! each element of the template's `violation` set is a violation with its
//! `msg`. `data.inventory` holds the objects rendered on the cluster.

use std::sync::Arc;

use serde_json::Value as Json;

use super::{Cluster, Engine, Finding, Outcome, Subject};

/// A template's compiled program, or why it does not compile.
pub type Compiled = Result<Arc<Program>, String>;

/// A ConstraintTemplate's Rego, compiled.
pub struct Program {
    exec: Exec,
    /// `data.<package>.violation`.
    entry: String,
    /// The Rego reads `data.inventory` (then the cluster's objects are data).
    pub uses_inventory: bool,
    /// The Rego reads what only the live request knows.
    offline: Option<&'static str>,
    /// Why fleetc does not run it at all (over any budget).
    refused: Option<String>,
}

/// How a template runs: on regorus' VM, which counts instructions (the
/// budget is deterministic), or, for the Rego its VM compiler does not take
/// yet, on its interpreter under a wall-clock limit.
enum Exec {
    Vm(Arc<regorus::rvm::program::Program>),
    Interpreter(Box<regorus::Engine>),
}

/// The wall-clock limit of a template run by the interpreter.
const INTERPRETER_LIMIT: std::time::Duration = std::time::Duration::from_secs(10);

/// The Rego of a template's admission target: (rego, libs), from `rego` and
/// `libs`, or from a `code` entry with engine `Rego`.
pub fn template_rego(template: &Json) -> Option<(String, Vec<String>)> {
    let targets = template["spec"]["targets"].as_array()?;
    let target = targets
        .iter()
        .find(|t| t["target"].as_str() == Some("admission.k8s.gatekeeper.sh"))?;
    let libs = |v: &Json| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    if let Some(code) = target["code"].as_array() {
        if let Some(c) = code.iter().find(|c| c["engine"].as_str() == Some("Rego")) {
            let source = &c["source"];
            if let Some(rego) = source["rego"].as_str() {
                return Some((rego.to_string(), libs(&source["libs"])));
            }
        }
    }
    target["rego"]
        .as_str()
        .map(|rego| (rego.to_string(), libs(&target["libs"])))
}

/// A template's `K8sNativeValidation` source (CEL). Gatekeeper (by
/// default since 3.18) runs it instead of the template's Rego when a
/// template has both.
pub fn template_cel(template: &Json) -> Option<&Json> {
    let target = template["spec"]["targets"]
        .as_array()?
        .iter()
        .find(|t| t["target"].as_str() == Some("admission.k8s.gatekeeper.sh"))?;
    target["code"]
        .as_array()?
        .iter()
        .find(|c| c["engine"].as_str() == Some("K8sNativeValidation"))
        .map(|c| &c["source"])
}

/// Compile a template's Rego and libs (Rego v1 first, then v0, as
/// Gatekeeper parses them).
pub fn compile(rego: &str, libs: &[String]) -> Compiled {
    let load = |v0: bool| -> Result<(regorus::Engine, String), String> {
        let mut e = regorus::Engine::new();
        e.set_rego_v0(v0);
        e.set_strict_builtin_errors(false);
        let package = e
            .add_policy("template.rego".into(), rego.to_string())
            .map_err(|err| first_line(&err.to_string()))?;
        for (i, lib) in libs.iter().enumerate() {
            e.add_policy(format!("lib_{i}.rego"), lib.clone())
                .map_err(|err| first_line(&err.to_string()))?;
        }
        Ok((e, package))
    };
    let (mut engine, package) = load(false).or_else(|_| load(true))?;
    let entry = format!("{package}.violation");
    let policy = engine
        .compile_with_entrypoint(&entry.as_str().into())
        .map_err(|e| first_line(&e.to_string()))?;
    let exec =
        match regorus::languages::rego::compiler::Compiler::compile_from_policy(&policy, &[&entry])
        {
            Ok(program) => Exec::Vm(program),
            Err(_) => Exec::Interpreter(Box::new(engine)),
        };
    let all = std::iter::once(rego).chain(libs.iter().map(String::as_str));
    let text: String = all.collect::<Vec<_>>().join("\n");
    let offline = text.contains("userInfo").then_some(
        "it reads who makes the request (`input.review.userInfo`), which is only known when someone applies",
    );
    Ok(Arc::new(Program {
        exec,
        entry,
        uses_inventory: text.contains("data.inventory"),
        offline,
        refused: unbounded_ranges(&text),
    }))
}

/// The longest `numbers.range` fleetc lets a template build.
const MAX_RANGE: i128 = 1_000_000;

/// regorus builds a `numbers.range`/`numbers.range_step` whole, at once,
/// before its instruction count can stop it: a bound that comes from the
/// object or the parameters could exhaust memory. Only ranges between
/// literal numbers, at most [`MAX_RANGE`] long, are run; the reason why
/// not, otherwise.
fn unbounded_ranges(text: &str) -> Option<String> {
    let mut rest = text;
    while let Some(at) = rest.find("numbers.range") {
        rest = &rest[at + "numbers.range".len()..];
        let args = rest
            .trim_start_matches("_step")
            .trim_start()
            .strip_prefix('(')
            .and_then(|a| a.split_once(')'))
            .map(|(a, _)| a);
        let bounds: Option<Vec<i128>> =
            args.and_then(|a| a.split(',').map(|x| x.trim().parse().ok()).collect());
        let fits = matches!(bounds.as_deref(), Some([a, b, ..]) if (b - a).abs() <= MAX_RANGE);
        if !fits {
            return Some(format!(
                "it calls numbers.range with bounds that are not literal numbers at most {MAX_RANGE} apart; regorus builds the whole range at once, so a bound taken from the object or the parameters could exhaust memory, and fleetc does not run it (`--limit admission-cost` does not change this)"
            ));
        }
    }
    None
}

/// An error's message without regorus' source excerpt (`--> file:line`,
/// the source line, a caret), with the line it points at.
fn first_line(s: &str) -> String {
    let at = s
        .lines()
        .find_map(|l| l.trim().strip_prefix("--> "))
        .map(|loc| format!(" (at {loc})"))
        .unwrap_or_default();
    let message = s
        .lines()
        .map(str::trim)
        .find_map(|l| l.strip_prefix("error: "))
        .or_else(|| {
            s.lines().map(str::trim).find(|l| {
                !l.is_empty()
                    && !l.starts_with("-->")
                    && !l.starts_with('|')
                    && !l.chars().next().is_some_and(|c| c.is_ascii_digit())
            })
        })
        .unwrap_or(s);
    format!("{message}{at}")
}

/// `data.inventory` of a cluster: `cluster[groupVersion][kind][name]` for
/// cluster-scoped objects, `namespace[ns][groupVersion][kind][name]` for
/// namespaced ones.
pub fn inventory(cluster: &Cluster) -> Json {
    let mut cluster_scoped = serde_json::Map::new();
    let mut namespaced = serde_json::Map::new();
    for o in &cluster.objects {
        let slot = match &o.namespace {
            Some(ns) => namespaced
                .entry(ns.clone())
                .or_insert_with(|| Json::Object(Default::default())),
            None => cluster_scoped
                .entry(String::new())
                .or_insert_with(|| Json::Object(Default::default())),
        };
        slot[&o.api_version][&o.kind][&o.name] = o.json().as_ref().clone();
    }
    let cluster_scoped = cluster_scoped
        .remove("")
        .unwrap_or(Json::Object(Default::default()));
    serde_json::json!({"inventory": {"cluster": cluster_scoped, "namespace": namespaced}})
}

/// Does a constraint's `spec.match` select the object?
pub fn matches(constraint: &Json, s: &Subject, cluster: &Cluster) -> bool {
    let m = &constraint["spec"]["match"];
    let req = s.req();
    if req.group == "admissionregistration.k8s.io" && req.kind.ends_with("WebhookConfiguration") {
        return false;
    }
    if let Some(kinds) = m["kinds"].as_array() {
        let covered = kinds.iter().any(|k| {
            let list = |key: &str, want: &str| {
                k[key].as_array().is_none_or(|a| {
                    a.is_empty()
                        || a.iter()
                            .any(|x| x.as_str() == Some("*") || x.as_str() == Some(want))
                })
            };
            list("apiGroups", req.group) && list("kinds", req.kind)
        });
        if !kinds.is_empty() && !covered {
            return false;
        }
    }
    match m["scope"].as_str() {
        Some("Cluster") if req.namespaced => return false,
        Some("Namespaced") if !req.namespaced => return false,
        _ => {}
    }
    // Other cluster-scoped objects than Namespaces are not filtered by
    // namespace.
    if let Some(ns) = s.match_namespace() {
        if let Some(list) = m["namespaces"].as_array() {
            if !list.iter().any(|p| p.as_str().is_some_and(|p| glob(p, ns))) {
                return false;
            }
        }
        if let Some(list) = m["excludedNamespaces"].as_array() {
            if list.iter().any(|p| p.as_str().is_some_and(|p| glob(p, ns))) {
                return false;
            }
        }
    }
    if let Some(name) = m["name"].as_str() {
        if !glob(name, &s.name) {
            return false;
        }
    }
    if !super::select::selects(m.get("labelSelector"), s.labels()) {
        return false;
    }
    s.match_namespace_labels(cluster)
        .is_none_or(|l| super::select::selects(m.get("namespaceSelector"), l))
}

/// Gatekeeper's name patterns: a `*` at the start or end matches any
/// prefix or suffix.
fn glob(pattern: &str, s: &str) -> bool {
    match (pattern.strip_prefix('*'), pattern.strip_suffix('*')) {
        _ if pattern == "*" => true,
        (Some(suffix), _) if !suffix.ends_with('*') => s.ends_with(suffix),
        (_, Some(prefix)) if !prefix.starts_with('*') => s.starts_with(prefix),
        (Some(inner), _) => inner.strip_suffix('*').is_some_and(|i| s.contains(i)),
        _ => pattern == s,
    }
}

/// The constraint's action at admission: `enforcementAction`, or with
/// `scoped`, the actions of `scopedEnforcementActions` for the validation
/// webhook (`validation.gatekeeper.sh` or `*`).
pub fn actions(constraint: &Json) -> Vec<String> {
    let spec = &constraint["spec"];
    let action = spec["enforcementAction"].as_str().unwrap_or("deny");
    if action != "scoped" {
        return vec![action.to_string()];
    }
    spec["scopedEnforcementActions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|a| {
            a["enforcementPoints"].as_array().is_some_and(|points| {
                points.iter().any(|p| {
                    matches!(
                        p["name"].as_str(),
                        Some("validation.gatekeeper.sh") | Some("*")
                    )
                })
            })
        })
        .filter_map(|a| a["action"].as_str().map(String::from))
        .collect()
}

/// Gatekeeper's `input`: the review of a CREATE of the object, and the
/// constraint's parameters (`{}` when it has none).
fn input(constraint: &Json, s: &Subject, cluster: &Cluster) -> regorus::Value {
    let parameters = match &constraint["spec"]["parameters"] {
        Json::Null => Json::Object(Default::default()),
        p => p.clone(),
    };
    let mut m = std::collections::BTreeMap::new();
    m.insert(regorus::Value::from("review"), s.review(cluster).clone());
    m.insert(
        regorus::Value::from("parameters"),
        regorus::Value::from(parameters),
    );
    regorus::Value::from(m)
}

/// Run a program on one input.
fn run(
    p: &Program,
    input: regorus::Value,
    data: Option<&regorus::Value>,
    budget: u64,
) -> Result<regorus::Value, String> {
    match &p.exec {
        Exec::Vm(program) => {
            let mut vm = regorus::rvm::vm::RegoVM::new();
            vm.load_program(program.clone());
            vm.set_max_instructions(usize::try_from(budget).unwrap_or(usize::MAX));
            if let Some(d) = data {
                vm.set_data(d.clone()).map_err(|e| e.to_string())?;
            }
            vm.set_input(input);
            vm.execute_entry_point_by_name(&p.entry)
                .map_err(|e| e.to_string())
        }
        Exec::Interpreter(engine) => {
            let mut e = engine.as_ref().clone();
            if let Some(d) = data {
                e.add_data(d.clone()).map_err(|e| e.to_string())?;
            }
            e.set_input(input);
            e.set_execution_timer_config(regorus::utils::limits::ExecutionTimerConfig {
                limit: INTERPRETER_LIMIT,
                check_interval: std::num::NonZeroU32::MIN.saturating_add(999),
            });
            e.eval_rule(p.entry.clone()).map_err(|e| e.to_string())
        }
    }
}

/// Run a template's program for one constraint and one object.
pub fn evaluate(
    program: &Compiled,
    constraint: &Json,
    s: &Subject,
    cluster: &Cluster,
    data: Option<&regorus::Value>,
    budget: u64,
) -> Vec<Finding> {
    let kind = constraint["kind"].as_str().unwrap_or_default();
    let actions = actions(constraint);
    let enforce = actions.iter().any(|a| a == "deny");
    let finding = |outcome: Outcome, message: String| Finding {
        engine: Engine::Gatekeeper,
        policy: constraint["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        binding: None,
        rule: kind.to_string(),
        outcome,
        message,
        enforce,
        actions: actions.join(","),
    };
    let p = match program {
        Ok(p) => p,
        Err(e) => {
            return vec![finding(
                Outcome::Error,
                format!("its template does not compile: {e}"),
            )]
        }
    };
    if let Some(why) = &p.refused {
        return vec![finding(Outcome::Budget, why.clone())];
    }
    if let Some(why) = p.offline {
        return vec![finding(Outcome::Skip, why.to_string())];
    }
    let result = match run(p, input(constraint, s, cluster), data, budget) {
        Ok(v) => v,
        Err(e) => {
            let message = first_line(&e);
            let outcome = if message.contains("instruction limit") || message.contains("time limit")
            {
                Outcome::Budget
            } else {
                Outcome::Error
            };
            return vec![finding(outcome, message)];
        }
    };
    let violations: Vec<Json> = match serde_json::to_value(&result) {
        _ if result == regorus::Value::Undefined => Vec::new(),
        Ok(Json::Array(v)) => v,
        Ok(other) => vec![other],
        Err(e) => return vec![finding(Outcome::Error, e.to_string())],
    };
    if violations.is_empty() {
        return vec![finding(Outcome::Pass, String::new())];
    }
    let mut out: Vec<Finding> = violations
        .iter()
        .map(|v| {
            let msg = v["msg"]
                .as_str()
                .map_or_else(|| v.to_string(), String::from);
            finding(Outcome::Fail, msg)
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::glob;

    #[test]
    fn globs() {
        assert!(glob("kube-*", "kube-system"));
        assert!(glob("*-system", "kube-system"));
        assert!(glob("*", "x"));
        assert!(!glob("kube-*", "default"));
        assert!(glob("default", "default"));
        assert!(!glob("default", "defaults"));
    }
}
