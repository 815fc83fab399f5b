//! Kubernetes `ValidatingAdmissionPolicy` with its bindings, and Kyverno's
//! `ValidatingPolicy` (the same shape, with its actions on the policy).
//!
//! A policy runs for an object when its `matchConstraints` and the
//! binding's `matchResources` select it, its params resolve (`paramRef`),
//! and every `matchConditions` expression is true; then each `validations`
//! entry must be true. `variables` are evaluated in order and visible as
//! `variables.<name>`. An evaluation error follows `failurePolicy`.

use std::sync::Arc;

use serde_json::Value as Json;

use super::cel::{self, CelError, Inputs};
use super::reads::{self, Reads};
use super::{Cluster, Engine, Finding, Outcome, Subject};

/// One policy as the API server would run it on this cluster: a VAP and
/// one of its bindings, or a Kyverno ValidatingPolicy.
pub struct Bound<'a> {
    pub policy: &'a Json,
    /// The binding (None for a Kyverno ValidatingPolicy).
    pub binding: Option<&'a Json>,
    pub engine: Engine,
}

impl Bound<'_> {
    fn name(&self) -> &str {
        self.policy["metadata"]["name"].as_str().unwrap_or_default()
    }

    /// The actions a failed validation takes: `Deny`, `Warn`, `Audit`.
    fn actions(&self) -> Vec<String> {
        let holder = self.binding.unwrap_or(self.policy);
        let actions: Vec<String> = holder["spec"]["validationActions"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        if actions.is_empty() && self.binding.is_none() {
            // A Kyverno ValidatingPolicy without actions denies.
            return vec!["Deny".into()];
        }
        actions
    }

    fn fail_closed(&self) -> bool {
        self.policy["spec"]["failurePolicy"].as_str() != Some("Ignore")
    }
}

type Compile<'c> = &'c dyn Fn(&str) -> Result<Arc<cel::Program>, CelError>;

/// Evaluate one bound policy on one object. None when it does not apply.
pub fn evaluate(
    b: &Bound,
    subject: &Subject,
    cluster: &Cluster,
    compile: Compile,
    (budget, reads): (u64, &Reads),
) -> Option<Vec<Finding>> {
    if !selected(b, subject, cluster) {
        return None;
    }
    let actions = b.actions();
    let projected = subject.projected(reads);
    let mut base = Inputs::default();
    let scope = match &projected {
        Some((json, scope)) => {
            base.share("object", json.clone());
            base.share("oldObject", Arc::new(Json::Null));
            scope
        }
        None => {
            subject.share(&mut base, cluster, reads.roots);
            subject.scope(cluster, reads.roots)
        }
    };
    let run = Run {
        b,
        scope,
        compile,
        budget,
        deny: actions.iter().any(|a| a == "Deny"),
        actions: actions.join(","),
    };
    // The params: none, one, or one evaluation per selected param object.
    let params: Vec<Option<Json>> = match params(b, subject, cluster) {
        Ok(p) => p,
        Err(Some(message)) => {
            return Some(vec![run.finding("params".into(), Outcome::Fail, message)])
        }
        Err(None) => return None,
    };
    let mut out = Vec::new();
    for param in params {
        let mut inputs = base.clone();
        inputs.set("params", Arc::new(param.unwrap_or(Json::Null)));
        run.once(&mut inputs, &mut out);
    }
    Some(out)
}

/// Whether the policy's `matchConstraints` and the binding's
/// `matchResources` select the object.
pub(super) fn selected(b: &Bound, subject: &Subject, cluster: &Cluster) -> bool {
    let req = subject.req();
    // The API server never runs admission policies on its own admission
    // configuration (webhook configurations, policies and bindings), so
    // that a broken policy cannot lock itself in.
    if req.group == "admissionregistration.k8s.io" {
        return false;
    }
    let matches = |m: Option<&Json>, rules_required: bool| {
        super::select::resources_match(
            m,
            &req,
            subject.labels(),
            subject.match_namespace_labels(cluster),
            rules_required,
        )
    };
    matches(b.policy["spec"].get("matchConstraints"), true)
        && b.binding
            .is_none_or(|binding| matches(binding["spec"].get("matchResources"), false))
}

/// One bound policy's evaluation settings.
struct Run<'a> {
    b: &'a Bound<'a>,
    /// The object's shared CEL scope.
    scope: &'a cel::Scope,
    compile: Compile<'a>,
    budget: u64,
    deny: bool,
    actions: String,
}

impl Run<'_> {
    fn finding(&self, rule: String, outcome: Outcome, message: String) -> Finding {
        Finding {
            policy: self.b.name().to_string(),
            binding: self
                .b
                .binding
                .and_then(|x| x["metadata"]["name"].as_str())
                .map(String::from),
            rule,
            outcome,
            message,
            engine: self.b.engine,
            enforce: self.deny,
            actions: self.actions.clone(),
        }
    }

    /// An expression that gave no value: skipped when it needs the live
    /// cluster, over the budget, or an error by `failurePolicy`.
    fn error(&self, rule: String, e: CelError) -> Finding {
        let outcome = match e {
            CelError::Offline(_) => Outcome::Skip,
            CelError::Budget { .. } | CelError::TooComplex(_) => Outcome::Budget,
            _ if self.b.fail_closed() => Outcome::Error,
            _ => Outcome::Ignored,
        };
        self.finding(rule, outcome, e.to_string())
    }

    fn run(&self, source: &str, inputs: &Inputs) -> Result<Json, CelError> {
        let p = (self.compile)(source)?;
        cel::eval_in(&p, Some(self.scope), inputs, self.budget).map(|v| cel::to_json(&v))
    }

    /// A failed validation's message: `messageExpression` when it gives a
    /// non-empty string, else `message`, else the API server's default.
    fn message(&self, v: &Json, inputs: &Inputs) -> String {
        if let Some(src) = v["messageExpression"].as_str() {
            if let Ok(Json::String(s)) = self.run(src, inputs) {
                if !s.trim().is_empty() {
                    return s;
                }
            }
        }
        if let Some(m) = v["message"].as_str() {
            return m.to_string();
        }
        format!(
            "failed expression: {}",
            v["expression"].as_str().unwrap_or_default()
        )
    }

    /// `matchConditions`: Ok(true) when all hold.
    fn conditions(&self, inputs: &Inputs) -> Result<bool, Finding> {
        let spec = &self.b.policy["spec"];
        for (i, mc) in spec["matchConditions"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            let name = mc["name"]
                .as_str()
                .map_or_else(|| format!("matchConditions[{i}]"), String::from);
            match self.run(mc["expression"].as_str().unwrap_or_default(), inputs) {
                Ok(Json::Bool(true)) => {}
                Ok(Json::Bool(false)) => return Ok(false),
                Ok(other) => {
                    let e = CelError::Runtime(format!("matchCondition gave {other}, not a bool"));
                    return Err(self.error(name, e));
                }
                Err(e) => return Err(self.error(name, e)),
            }
        }
        Ok(true)
    }

    /// One evaluation (one param): conditions, variables, validations.
    fn once(&self, inputs: &mut Inputs, out: &mut Vec<Finding>) {
        match self.conditions(inputs) {
            Ok(true) => {}
            Ok(false) => return,
            Err(f) => {
                out.push(f);
                return;
            }
        }
        let spec = &self.b.policy["spec"];
        let mut vars = serde_json::Map::new();
        let mut var_errors: Vec<(String, CelError)> = Vec::new();
        for v in spec["variables"].as_array().into_iter().flatten() {
            let name = v["name"].as_str().unwrap_or_default().to_string();
            inputs.set("variables", Arc::new(Json::Object(vars.clone())));
            match self.run(v["expression"].as_str().unwrap_or_default(), inputs) {
                Ok(value) => {
                    vars.insert(name, value);
                }
                Err(e) => var_errors.push((name, e)),
            }
        }
        inputs.set("variables", Arc::new(Json::Object(vars)));
        for (i, v) in spec["validations"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            let rule = i.to_string();
            let expression = v["expression"].as_str().unwrap_or_default();
            // A validation that reads a variable that failed fails with it.
            if let Some((name, e)) = var_errors
                .iter()
                .find(|(n, _)| expression.contains(&format!("variables.{n}")))
            {
                let e = match e {
                    CelError::Runtime(m) | CelError::Compile(m) => {
                        CelError::Runtime(format!("variable `{name}`: {m}"))
                    }
                    other => other.clone(),
                };
                out.push(self.error(rule, e));
                continue;
            }
            out.push(match self.run(expression, inputs) {
                Ok(Json::Bool(true)) => self.finding(rule, Outcome::Pass, String::new()),
                Ok(Json::Bool(false)) => {
                    let message = self.message(v, inputs);
                    self.finding(rule, Outcome::Fail, message)
                }
                Ok(other) => {
                    let e = CelError::Runtime(format!("validation gave {other}, not a bool"));
                    self.error(rule, e)
                }
                Err(e) => self.error(rule, e),
            });
        }
    }
}

/// The params of a bound VAP for one object: `[None]` without `paramKind`;
/// one entry per param object `paramRef` selects. Err(Some(message)) when
/// none is found and `parameterNotFoundAction` is `Deny` (the default);
/// Err(None) when none is found and it is `Allow` (the policy does not run).
fn params(
    b: &Bound,
    subject: &Subject,
    cluster: &Cluster,
) -> Result<Vec<Option<Json>>, Option<String>> {
    let Some(kind) = b.policy["spec"].get("paramKind").filter(|k| !k.is_null()) else {
        return Ok(vec![None]);
    };
    let Some(binding) = b.binding else {
        return Ok(vec![None]);
    };
    let api = kind["apiVersion"].as_str().unwrap_or_default();
    let k = kind["kind"].as_str().unwrap_or_default();
    let r = &binding["spec"]["paramRef"];
    let name = r["name"].as_str();
    let namespace = r["namespace"]
        .as_str()
        .map(String::from)
        .or_else(|| subject.namespace.clone());
    let found: Vec<Json> = cluster
        .objects
        .iter()
        .filter(|o| o.api_version == api && o.kind == k)
        .filter(|o| o.namespace.is_none() || o.namespace == namespace)
        .filter(|o| name.is_none_or(|n| o.name == n))
        .filter(|o| name.is_some() || super::select::selects(r.get("selector"), o.labels()))
        .map(|o| o.json().as_ref().clone())
        .collect();
    if !found.is_empty() {
        return Ok(found.into_iter().map(Some).collect());
    }
    if r["parameterNotFoundAction"].as_str() == Some("Allow") {
        return Err(None);
    }
    Err(Some(format!(
        "no {k} param found for binding `{}` (paramRef {}); parameterNotFoundAction is Deny",
        binding["metadata"]["name"].as_str().unwrap_or_default(),
        name.map_or_else(|| "selector".to_string(), |n| format!("name {n}"))
    )))
}

/// What a bound policy reads of an object: its matching, then what its
/// `matchConditions`, `variables`, `validations` and messages read.
pub fn reads(b: &Bound, compile: reads::cel::Compile) -> Reads {
    let mut out = Reads::default();
    let spec = &b.policy["spec"];
    let mut env = reads::cel::env();
    let list = |key: &str| spec[key].as_array().cloned().unwrap_or_default();
    let consume = |source: Option<&str>, env: &mut reads::cel::Env, out: &mut Reads| {
        if let Some(s) = source {
            let a = reads::cel::expression(s, compile, env, out);
            out.consume(&a);
        }
    };
    for mc in list("matchConditions") {
        consume(mc["expression"].as_str(), &mut env, &mut out);
    }
    for v in list("variables") {
        let a = reads::cel::expression(
            v["expression"].as_str().unwrap_or_default(),
            compile,
            &mut env,
            &mut out,
        );
        let name = v["name"].as_str().unwrap_or_default();
        env.push((format!("variables.{name}"), a));
    }
    for v in list("validations") {
        consume(v["expression"].as_str(), &mut env, &mut out);
        consume(v["messageExpression"].as_str(), &mut env, &mut out);
    }
    for v in list("auditAnnotations") {
        consume(v["valueExpression"].as_str(), &mut env, &mut out);
    }
    out
}

/// A Gatekeeper constraint whose template has `K8sNativeValidation` code:
/// its CEL runs as Gatekeeper runs it, as a VAP whose param is the
/// constraint, with `variables.params` (the constraint's parameters) and
/// `variables.anyObject` (the object) defined first. Its findings are the
/// constraint's (rule: the constraint's kind; actions: its
/// `enforcementAction`).
pub fn gatekeeper(
    constraint: &Json,
    source: &Json,
    subject: &Subject,
    cluster: &Cluster,
    compile: Compile,
    (budget, roots): (u64, u8),
) -> Vec<Finding> {
    let actions = super::rego::actions(constraint);
    let enforce = actions.iter().any(|a| a == "deny");
    let policy = gatekeeper_policy(constraint, source);
    let b = Bound {
        policy: &policy,
        binding: None,
        engine: Engine::Gatekeeper,
    };
    let run = Run {
        b: &b,
        scope: subject.scope(cluster, roots),
        compile,
        budget,
        deny: enforce,
        actions: actions.join(","),
    };
    let mut inputs = Inputs::default();
    subject.share(&mut inputs, cluster, roots);
    inputs.set("params", Arc::new(constraint.clone()));
    let mut out = Vec::new();
    run.once(&mut inputs, &mut out);
    let kind = constraint["kind"].as_str().unwrap_or_default();
    let mut found: Vec<Finding> = out
        .into_iter()
        .filter(|f| f.outcome != Outcome::Pass)
        .map(|f| Finding {
            rule: kind.to_string(),
            ..f
        })
        .collect();
    if found.is_empty() {
        found.push(run.finding(kind.to_string(), Outcome::Pass, String::new()));
    }
    found.sort();
    found.dedup();
    found
}

/// The VAP Gatekeeper makes of a template's CEL for one constraint.
pub fn gatekeeper_policy(constraint: &Json, source: &Json) -> Json {
    let mut variables = vec![
        serde_json::json!({"name": "params", "expression":
            "!has(params.spec) ? null : !has(params.spec.parameters) ? null : params.spec.parameters"}),
        serde_json::json!({"name": "anyObject", "expression":
            "has(request.operation) && request.operation == 'DELETE' && object == null ? oldObject : object"}),
    ];
    variables.extend(source["variables"].as_array().cloned().unwrap_or_default());
    serde_json::json!({
        "metadata": {"name": constraint["metadata"]["name"]},
        "spec": {
            "failurePolicy": source.get("failurePolicy").cloned().unwrap_or_else(|| "Fail".into()),
            "matchConditions": source["matchConditions"],
            "variables": variables,
            "validations": source["validations"],
        },
    })
}
