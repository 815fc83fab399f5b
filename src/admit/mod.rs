//! admit: would each cluster's own admission policies admit what fleetc
//! sends it?
//!
//! On every cluster, every rendered object is reviewed as a CREATE by
//! every admission policy rendered on that same cluster, in its rendered
//! form (so the mode fleetc resolved is already in the engine's fields).
//! Namespace labels come from the Namespaces rendered there and the ones
//! the fleet declares; params from the objects rendered there.
//!
//! Engines: Kubernetes `ValidatingAdmissionPolicy` + binding and Kyverno
//! `ValidatingPolicy` ([`vap`], CEL in [`cel`]).
//!
//! A violation of a policy that denies is an error (the cluster would
//! reject the object); one that only warns or audits is a warning. An
//! evaluation error follows the policy's `failurePolicy`; an expression
//! over its budget is always an error; what needs the live cluster (who
//! applies, the authorizer, external calls) is skipped and counted.
//!
//! Identical (policy, object, namespace, params) recur on many clusters:
//! each is evaluated once.

pub mod cel;
mod cel_format;
pub mod kyverno;
pub mod reads;
pub mod rego;
pub mod select;
#[cfg(test)]
mod tests;
mod vap;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use serde_json::Value as Json;
use sha2::{Digest, Sha256};

use crate::diag::{Code, Diagnostic, Diags, ObjectRef, Span};
use crate::load::model::{Format, Repo};
use crate::memo::Memo;
use crate::render::{RenderedCluster, Resource};

/// The engine a policy belongs to, as policy reports name it (`source`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Engine {
    Kyverno,
    Gatekeeper,
    ValidatingAdmissionPolicy,
}

impl Engine {
    pub fn as_str(self) -> &'static str {
        match self {
            Engine::Kyverno => "kyverno",
            Engine::Gatekeeper => "gatekeeper",
            Engine::ValidatingAdmissionPolicy => "ValidatingAdmissionPolicy",
        }
    }
}

/// What one rule of one policy said of one object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Outcome {
    Pass,
    /// The object violates the rule.
    Fail,
    /// The rule could not be evaluated; the policy fails closed.
    Error,
    /// The rule could not be evaluated; the policy fails open (`Ignore`).
    Ignored,
    /// The rule's cost is over the budget.
    Budget,
    /// The rule needs what only the live cluster knows.
    Skip,
}

impl Outcome {
    /// The `result` of a `wgpolicyk8s.io` report entry.
    pub fn report_result(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Fail => "fail",
            Outcome::Error | Outcome::Ignored | Outcome::Budget => "error",
            Outcome::Skip => "skip",
        }
    }
}

/// One (policy, rule) result for one object.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Finding {
    pub engine: Engine,
    /// The policy's name as reports name it.
    pub policy: String,
    /// The VAP binding that ran it.
    pub binding: Option<String>,
    /// The rule (Kyverno rule, Gatekeeper constraint kind, or the index of
    /// a CEL validation).
    pub rule: String,
    pub outcome: Outcome,
    pub message: String,
    /// Whether a failure denies the object (else it warns or audits).
    pub enforce: bool,
    /// The engine's own actions, as written (`Deny`, `Audit,Warn`, `deny`, `Enforce`).
    pub actions: String,
}

/// One result, with where it happened.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Reported {
    pub cluster: String,
    pub object: ObjectRef,
    /// The template the object came from.
    pub source: String,
    pub finding: Finding,
}

/// One object as admission sees it.
pub struct Subject<'a> {
    pub resource: &'a Resource,
    pub api_version: String,
    pub kind: String,
    pub name: String,
    pub namespace: Option<String>,
    group: String,
    version: String,
    plural: String,
    /// The object as JSON, made when a policy first needs it.
    json: std::sync::OnceLock<Arc<Json>>,
    /// The object as a CEL value, likewise.
    cel: std::sync::OnceLock<::cel::Value>,
    /// The admission request, as JSON and as a CEL value.
    request: std::sync::OnceLock<(Arc<Json>, ::cel::Value)>,
    /// Gatekeeper's `input.review`, as a Rego value.
    review: std::sync::OnceLock<regorus::Value>,
    /// The CEL scopes of the policies reviewing it, by the variables
    /// they read.
    scopes: [std::sync::OnceLock<cel::Scope>; 8],
    /// The variables of Kyverno rules (`request`, `images`).
    kyverno: std::sync::OnceLock<Json>,
    /// The object's labels as JSON, made when a selector first needs them.
    labels: std::sync::OnceLock<Json>,
}

impl Subject<'_> {
    /// The object as JSON.
    pub fn json(&self) -> &Arc<Json> {
        self.json
            .get_or_init(|| Arc::new(self.resource.node.to_json()))
    }

    /// The object as a CEL value.
    pub fn cel(&self) -> &::cel::Value {
        self.cel.get_or_init(|| cel::to_cel(self.json()))
    }

    pub fn labels(&self) -> &Json {
        self.labels.get_or_init(|| {
            self.resource
                .node
                .get_path(&["metadata", "labels"])
                .map(crate::yaml::Node::to_json)
                .unwrap_or(Json::Null)
        })
    }

    pub fn req(&self) -> select::Request<'_> {
        select::Request {
            group: &self.group,
            version: &self.version,
            kind: &self.kind,
            resource: &self.plural,
            name: &self.name,
            namespaced: self.namespace.is_some(),
        }
    }

    /// The labels of the object's namespace on the cluster (None when it
    /// is cluster-scoped, or its namespace is not known there).
    pub fn namespace_labels<'c>(&self, cluster: &'c Cluster) -> Option<&'c Json> {
        let ns = self.namespace.as_ref()?;
        cluster.namespaces.get(ns).map(|n| &n["metadata"]["labels"])
    }

    fn is_namespace(&self) -> bool {
        self.group.is_empty() && self.kind == "Namespace"
    }

    /// The namespace that namespace criteria (`namespaces`,
    /// `excludedNamespaces`) look at: the object's own, or a Namespace's
    /// name; None for other cluster-scoped objects.
    pub fn match_namespace(&self) -> Option<&str> {
        if self.is_namespace() {
            Some(&self.name)
        } else {
            self.namespace.as_deref()
        }
    }

    /// The labels a `namespaceSelector` looks at: a Namespace's own, a
    /// namespaced object's namespace's (null when the cluster does not know
    /// it); None for other cluster-scoped objects.
    pub fn match_namespace_labels<'c>(&'c self, cluster: &'c Cluster) -> Option<&'c Json> {
        static NULL: Json = Json::Null;
        if self.is_namespace() {
            Some(self.labels())
        } else if self.namespace.is_some() {
            Some(self.namespace_labels(cluster).unwrap_or(&NULL))
        } else {
            None
        }
    }

    pub fn namespace_object(&self, cluster: &Cluster) -> Option<Json> {
        cluster.namespaces.get(self.namespace.as_ref()?).cloned()
    }

    /// The admission request (JSON, CEL), made once.
    pub fn request(&self) -> &(Arc<Json>, ::cel::Value) {
        self.request.get_or_init(|| {
            let j = self.request_json();
            let c = cel::to_cel(&j);
            (Arc::new(j), c)
        })
    }

    /// The CEL scope with `object`, `oldObject`, and the `request` and
    /// `namespaceObject` that `roots` asks for ([`reads::ROOT_REQUEST`],
    /// [`reads::ROOT_NAMESPACE`]), made once; with [`Subject::share`] for
    /// the estimates.
    pub fn scope(&self, cluster: &Cluster, roots: u8) -> &cel::Scope {
        let roots = roots & 7;
        self.scopes[usize::from(roots)].get_or_init(|| {
            let mut v = vec![
                ("object", self.cel().clone()),
                ("oldObject", ::cel::Value::Null),
            ];
            if roots & reads::ROOT_REQUEST != 0 {
                v.push(("request", self.request().1.clone()));
            }
            if roots & reads::ROOT_NAMESPACE != 0 {
                if let Some(ns) = self.namespace_object(cluster) {
                    v.push(("namespaceObject", cel::to_cel(&ns)));
                }
            }
            if roots & reads::ROOT_RESOURCE != 0 {
                v.push(("resource", cluster.resources().clone()));
            }
            cel::scope(v)
        })
    }

    /// A scope with only what `reads` reads of the object, and that
    /// projection (for the cost estimate): for a policy that reads no
    /// variable but `object` (None otherwise, or when it reads it whole).
    /// Converting the whole object for every policy that evaluates it is
    /// most of an evaluation's cost when objects differ on every cluster.
    pub fn projected(&self, reads: &reads::Reads) -> Option<(Arc<Json>, cel::Scope)> {
        if reads.roots != 0 || reads.is_all() {
            return None;
        }
        let json = reads.project(&self.resource.node);
        #[cfg(debug_assertions)]
        {
            let mut a = Vec::new();
            let mut b = Vec::new();
            reads.hash(&self.resource.node, &mut a);
            let back = crate::yaml::Node::from_json(&json, &self.resource.node.span);
            reads.hash(&back, &mut b);
            debug_assert!(a == b, "the projection reads differently: {json}");
        }
        let scope = cel::scope(vec![
            ("object", cel::to_cel(&json)),
            ("oldObject", ::cel::Value::Null),
        ]);
        Some((Arc::new(json), scope))
    }

    /// Name the scope's variables in `inputs`, for the cost estimate.
    pub fn share(&self, inputs: &mut cel::Inputs, cluster: &Cluster, roots: u8) {
        inputs.share("object", self.json().clone());
        inputs.share("oldObject", Arc::new(Json::Null));
        if roots & reads::ROOT_REQUEST != 0 {
            inputs.share("request", self.request().0.clone());
        }
        if roots & reads::ROOT_NAMESPACE != 0 {
            if let Some(ns) = self.namespace_object(cluster) {
                inputs.share("namespaceObject", Arc::new(ns));
            }
        }
    }

    /// The variables of Kyverno rules, made once.
    pub fn kyverno_context(&self) -> &Json {
        self.kyverno.get_or_init(|| kyverno::context(self))
    }

    /// Gatekeeper's `input.review` of the object, made once.
    pub fn review(&self, cluster: &Cluster) -> &regorus::Value {
        self.review.get_or_init(|| {
            let mut review = self.request_json();
            review["object"] = self.json().as_ref().clone();
            review["oldObject"] = Json::Null;
            if let Some(ns) = self.namespace_object(cluster) {
                review["namespaceObject"] = ns;
            }
            regorus::Value::from(review)
        })
    }

    /// The admission request: a CREATE of the object.
    pub fn request_json(&self) -> Json {
        serde_json::json!({
            "kind": {"group": self.group, "version": self.version, "kind": self.kind},
            "resource": {"group": self.group, "version": self.version, "resource": self.plural},
            "requestKind": {"group": self.group, "version": self.version, "kind": self.kind},
            "requestResource": {"group": self.group, "version": self.version, "resource": self.plural},
            "name": self.name,
            "namespace": self.namespace.clone().unwrap_or_default(),
            "operation": "CREATE",
            "options": {"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions"},
            "dryRun": false,
        })
    }
}

/// What one cluster holds, as admission sees it.
pub struct Cluster<'a> {
    pub name: String,
    /// Namespace name → the Namespace object (rendered, or a declared one
    /// with only its name label).
    pub namespaces: BTreeMap<String, Json>,
    pub objects: Vec<Subject<'a>>,
    /// Kyverno's CEL `resource` library's data, made when a policy first
    /// reads it.
    resources: std::sync::OnceLock<::cel::Value>,
}

impl Cluster<'_> {
    /// Every object of the cluster by `apiVersion|resource|namespace`
    /// (and `apiVersion|resource|` for all namespaces), as a CEL map for
    /// `resource.Get` and `resource.List`.
    pub fn resources(&self) -> &::cel::Value {
        self.resources.get_or_init(|| {
            let mut by: BTreeMap<String, Vec<Json>> = BTreeMap::new();
            let mut add = |api: &str, plural: &str, ns: Option<&str>, o: Json| {
                if let Some(ns) = ns {
                    by.entry(format!("{api}|{plural}|{ns}"))
                        .or_default()
                        .push(o.clone());
                }
                by.entry(format!("{api}|{plural}|")).or_default().push(o);
            };
            for ns in self.namespaces.values() {
                add("v1", "namespaces", None, ns.clone());
            }
            for o in &self.objects {
                if o.group.is_empty() && o.kind == "Namespace" {
                    continue;
                }
                let json = o.json().as_ref().clone();
                add(&o.api_version, &o.plural, o.namespace.as_deref(), json);
            }
            let map: serde_json::Map<String, Json> =
                by.into_iter().map(|(k, v)| (k, Json::Array(v))).collect();
            cel::to_cel(&Json::Object(map))
        })
    }
}

/// What the policies of one cluster evaluate against, besides the object.
struct Shared<'a> {
    cluster: Cluster<'a>,
    /// Gatekeeper's `data` (the inventory), when a template reads it.
    data: Option<regorus::Value>,
    inventory_digest: Option<[u8; 32]>,
    /// The Kyverno PolicyExceptions rendered on the cluster.
    exceptions: Vec<&'a Json>,
    exceptions_digest: [u8; 32],
    /// Every object of the cluster, when a policy's params or context
    /// lookups read them.
    everything: Option<[u8; 32]>,
}

/// What the policies of one cluster evaluate against besides the object:
/// the inventory, the exceptions, and digests of what answers depend on.
fn prepare<'a>(
    cluster: Cluster<'a>,
    objects: &'a [PolicyObject],
    policies: &[Policy],
) -> Shared<'a> {
    // Gatekeeper's data.inventory, built when a template reads it.
    let inventory = policies
        .iter()
        .any(Policy::uses_inventory)
        .then(|| rego::inventory(&cluster));
    let exceptions: Vec<&Json> = objects
        .iter()
        .filter(|o| o.group == "kyverno.io" && o.kind == "PolicyException")
        .map(|o| o.json.as_ref())
        .collect();
    // What besides the policy and the object an answer depends on.
    let everything = policies.iter().any(Policy::uses_params).then(|| {
        json_digest(&Json::Array(
            cluster
                .objects
                .iter()
                .map(|o| o.json().as_ref().clone())
                .collect(),
        ))
    });
    let exceptions_digest = json_digest(&Json::Array(
        exceptions.iter().map(|e| (*e).clone()).collect(),
    ));
    Shared {
        inventory_digest: inventory.as_ref().map(json_digest),
        data: inventory.map(regorus::Value::from),
        cluster,
        exceptions,
        everything,
        exceptions_digest,
    }
}

/// A Kyverno policy's rules, auto-generated ones included: (name, rule).
type Rules = Arc<Vec<(String, Json)>>;

/// Two digests (the policies of a cluster, what matching reads of an object).
type Pair = ([u8; 32], [u8; 32]);

/// What one policy said of one object (None: it does not apply).
type Answer = Option<Arc<Vec<Finding>>>;

/// Reviews clusters against their own admission policies, remembering each
/// distinct answer. Shared by the workers that render clusters in parallel.
pub struct Admission {
    format: Format,
    /// The CEL cost budget of one expression.
    pub budget: u64,
    /// "Today" (YYYY-MM-DD), for PolicyExceptions' expiry.
    today: String,
    programs: Memo<String, Result<Arc<cel::Program>, cel::CelError>>,
    /// The policy objects as JSON, by the digest of the rendered object.
    policy_json: Memo<[u8; 32], Arc<Json>>,
    /// Kyverno policies' rules, auto-generated ones included, likewise.
    kyverno_rules: Memo<[u8; 32], Rules>,
    /// Gatekeeper templates' programs, by the digest of their Rego and libs.
    templates: Memo<[u8; 32], rego::Compiled>,
    answers: Memo<[u8; 32], Answer>,
    /// What each policy reads of an object, by the policy's digest.
    reads: Memo<[u8; 32], Arc<reads::Reads>>,
    /// Which of a cluster's policies may apply to an object, by the
    /// digest of the policies and of what matching reads of the object.
    applies: Memo<Pair, Arc<Vec<bool>>>,
    /// Each distinct answer once (passes repeat across many objects).
    interned: Memo<Vec<Finding>, Arc<Vec<Finding>>>,
    results: Mutex<Vec<Reported>>,
    /// Keep every result (passes and skips too), not only the diagnostics.
    keep: bool,
    /// Hand CEL only the parts of objects a policy reads (off: the whole
    /// objects, to test that both give the same answers).
    project: bool,
}

impl Admission {
    pub fn new(format: Format, budget: u64, today: &str) -> Admission {
        Admission {
            format,
            budget,
            today: today.to_string(),
            programs: Memo::default(),
            templates: Memo::default(),
            policy_json: Memo::default(),
            kyverno_rules: Memo::default(),
            answers: Memo::default(),
            reads: Memo::default(),
            applies: Memo::default(),
            interned: Memo::default(),
            results: Mutex::default(),
            keep: false,
            project: true,
        }
    }

    /// Keep every result for [`Admission::results`] (a report needs them;
    /// validate does not, and they are many).
    pub fn keeping_results(mut self, keep: bool) -> Admission {
        self.keep = keep;
        self
    }

    /// Evaluate CEL on whole objects, not on what each policy reads of
    /// them (for the tests that compare the two).
    #[cfg(test)]
    pub fn whole_objects(mut self) -> Admission {
        self.project = false;
        self
    }

    /// Every result so far, sorted (cluster, object, policy, rule).
    pub fn results(&self) -> Vec<Reported> {
        let mut r = self
            .results
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        r.sort();
        r
    }

    /// What a policy reads of an object (everything, for what the analysis
    /// does not follow).
    fn reads_of(&self, p: &Policy) -> reads::Reads {
        let compile = |s: &str| self.compile(s);
        let (mut r, texts) = match &p.run {
            Run::Cel(b) => (vap::reads(b, &compile), vec![Some(b.policy), b.binding]),
            Run::Kyverno { policy, rules } => {
                let mut r = reads::Reads::default();
                for (_, rule) in rules.iter() {
                    reads::kyverno::rule(rule, &compile, &mut r);
                }
                (r, vec![Some(*policy)])
            }
            Run::Gatekeeper {
                constraint,
                template,
                ..
            } => {
                let mut r = reads::Reads::default();
                match rego::template_rego(template) {
                    Some((text, libs)) => r.merge(&reads::rego::template(&text, &libs)),
                    None => r = reads::Reads::all(),
                }
                (r, vec![Some(*constraint), Some(*template)])
            }
            Run::GatekeeperCel {
                constraint,
                template,
                source,
            } => {
                let policy = vap::gatekeeper_policy(constraint, source);
                let b = vap::Bound {
                    policy: &policy,
                    binding: None,
                    engine: Engine::Gatekeeper,
                };
                (
                    vap::reads(&b, &compile),
                    vec![Some(*constraint), Some(*template)],
                )
            }
        };
        // The label with the cluster's name is left out of every digest,
        // unless the policy names it.
        r.cluster = texts
            .into_iter()
            .flatten()
            .any(|j| j.to_string().contains(reads::CLUSTER_LABEL));
        r
    }

    fn compile(&self, source: &str) -> Result<Arc<cel::Program>, cel::CelError> {
        self.programs
            .get_or(source, || cel::compile(source).map(Arc::new))
    }

    /// A Kyverno policy's rules with the auto-generated ones, made once
    /// for the fleet.
    fn rules_of(&self, o: &PolicyObject) -> Rules {
        self.kyverno_rules
            .get_or(&o.digest, || Arc::new(kyverno::rules(&o.json)))
    }

    /// A template's program, compiled once for the fleet.
    fn template(&self, template: &Json) -> rego::Compiled {
        let Some((text, libs)) = rego::template_rego(template) else {
            return Err("it has no Rego for the target admission.k8s.gatekeeper.sh".into());
        };
        let key: [u8; 32] =
            Sha256::digest(format!("{text}\0{}", libs.join("\0")).as_bytes()).into();
        self.templates.get_or(&key, || rego::compile(&text, &libs))
    }

    /// Review every object of one rendered cluster; problems go to `d`.
    pub fn cluster(&self, repo: &Repo, rc: &RenderedCluster, d: &mut Diags) {
        let objects = policy_objects(rc, &self.policy_json);
        let mut policies = policies(&objects, &|t| self.template(t), &|o| self.rules_of(o));
        if policies.is_empty() {
            return;
        }
        for p in &mut policies {
            p.reads = self.reads.get_or(&p.digest, || Arc::new(self.reads_of(p)));
        }
        let shared = prepare(view(repo, rc, self.format), &objects, &policies);
        let ns_digests: BTreeMap<&String, [u8; 32]> = shared
            .cluster
            .namespaces
            .iter()
            .map(|(n, o)| (n, namespace_digest(o)))
            .collect();
        let mut reported = Vec::new();
        // PolicyExceptions' conditions read the object too.
        let exempting = shared
            .exceptions
            .iter()
            .any(|e| e["spec"].get("conditions").is_some());
        let set = policy_set(&policies, &rc.name);
        let mut buf = Vec::new();
        for subject in &shared.cluster.objects {
            let identity = identity(subject, &ns_digests, &mut buf);
            let applies = self.applies.get_or(&(set, identity), || {
                Arc::new(
                    policies
                        .iter()
                        .map(|p| p.may_apply(subject, &shared.cluster))
                        .collect(),
                )
            });
            let mut full_digest = None;
            for (p, _) in policies.iter().zip(applies.iter()).filter(|(_, a)| **a) {
                // The object as the policy sees it: what matching reads,
                // and the parts the policy reads.
                let everything =
                    p.reads.is_all() || (exempting && matches!(p.run, Run::Kyverno { .. }));
                let seen = if everything {
                    *full_digest
                        .get_or_insert_with(|| crate::accept::digest(&subject.resource.node))
                } else {
                    reads::digest(&p.reads, &subject.resource.node, &mut buf)
                };
                let mut h = Sha256::new();
                h.update(p.digest);
                h.update(identity);
                h.update(seen);
                if p.reads.cluster {
                    h.update(rc.name.as_bytes());
                }
                let findings = self.answer(p, h, subject, &shared);
                for f in findings.iter().flat_map(|f| f.iter()) {
                    if let Some(diag) = diagnostic(f, subject, &p.span, &rc.name) {
                        d.push(diag);
                    }
                    if !self.keep {
                        continue;
                    }
                    reported.push(Reported {
                        cluster: rc.name.clone(),
                        object: subject.resource.object_ref(),
                        source: subject.resource.source.clone(),
                        finding: f.clone(),
                    });
                }
            }
        }
        self.results
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(reported);
    }

    /// One policy's answer for one object: remembered by everything it
    /// depends on (`key` has the policy, the object and its namespace).
    fn answer(&self, p: &Policy, mut key: Sha256, subject: &Subject, shared: &Shared) -> Answer {
        if let (true, Some(all)) = (p.uses_params(), &shared.everything) {
            key.update(all);
        }
        if let (true, Some(inv)) = (p.uses_inventory(), &shared.inventory_digest) {
            key.update(inv);
        }
        if let Run::Kyverno { .. } = p.run {
            key.update(shared.exceptions_digest);
        }
        let key: [u8; 32] = key.finalize().into();
        self.answers.get_or(&key, || {
            let f = self.evaluate(
                p,
                subject,
                &shared.cluster,
                shared.data.as_ref(),
                &shared.exceptions,
            )?;
            // Passes repeat across objects: each distinct answer is kept once.
            Some(self.interned.get_or(&f, || Arc::new(f.clone())))
        })
    }

    fn evaluate(
        &self,
        p: &Policy,
        subject: &Subject,
        cluster: &Cluster,
        data: Option<&regorus::Value>,
        exceptions: &[&Json],
    ) -> Option<Vec<Finding>> {
        let compile = |s: &str| self.compile(s);
        match &p.run {
            Run::Kyverno { policy, rules } => kyverno::Kyverno {
                policy,
                rules,
                exceptions,
                today: &self.today,
                budget: self.budget,
                compile: &compile,
                roots: p.reads.roots,
            }
            .evaluate(subject, cluster),
            Run::Cel(b) => {
                let whole = reads::Reads::all();
                let reads = if self.project { &p.reads } else { &whole };
                vap::evaluate(b, subject, cluster, &compile, (self.budget, reads))
            }
            Run::GatekeeperCel {
                constraint, source, ..
            } => {
                if !rego::matches(constraint, subject, cluster) {
                    return None;
                }
                Some(vap::gatekeeper(
                    constraint,
                    source,
                    subject,
                    cluster,
                    &compile,
                    (self.budget, p.reads.roots),
                ))
            }
            Run::Gatekeeper {
                constraint,
                program,
                ..
            } => {
                if !rego::matches(constraint, subject, cluster) {
                    return None;
                }
                let data = data.filter(|_| p.uses_inventory());
                Some(rego::evaluate(
                    program,
                    constraint,
                    subject,
                    cluster,
                    data,
                    self.budget,
                ))
            }
        }
    }
}

/// An admission policy rendered on a cluster, ready to run: its engine's
/// part, where it is written, and the digest of the objects it is made of.
struct Policy<'a> {
    run: Run<'a>,
    span: Span,
    digest: [u8; 32],
    /// What it reads of an object: its answers are remembered by that.
    reads: Arc<reads::Reads>,
}

/// What each engine runs.
enum Run<'a> {
    Cel(vap::Bound<'a>),
    /// A Kyverno ClusterPolicy or Policy, with its rules (auto-generated
    /// ones included).
    Kyverno {
        policy: &'a Json,
        rules: Rules,
    },
    /// A Gatekeeper constraint and its template's program.
    Gatekeeper {
        constraint: &'a Json,
        template: &'a Json,
        program: rego::Compiled,
    },
    /// A Gatekeeper constraint whose template has CEL
    /// (`K8sNativeValidation`), with that source.
    GatekeeperCel {
        constraint: &'a Json,
        template: &'a Json,
        source: &'a Json,
    },
}

impl Policy<'_> {
    fn uses_params(&self) -> bool {
        // Kyverno's CEL `resource.Get`/`List` read the cluster's objects.
        if self.reads.roots & reads::ROOT_RESOURCE != 0 {
            return true;
        }
        match &self.run {
            Run::Cel(b) => b.policy["spec"]
                .get("paramKind")
                .is_some_and(|k| !k.is_null()),
            Run::Gatekeeper { .. } | Run::GatekeeperCel { .. } => false,
            // A rule's context may read a ConfigMap, or call the API for
            // objects, of the cluster.
            Run::Kyverno { rules, .. } => rules.iter().any(|(_, r)| {
                r["context"].as_array().is_some_and(|c| {
                    c.iter()
                        .any(|e| e.get("configMap").is_some() || e.get("apiCall").is_some())
                })
            }),
        }
    }

    /// Whether the policy may apply to the object at all (a cheap check
    /// of its kinds and selectors, before anything is hashed or run).
    fn may_apply(&self, s: &Subject, cluster: &Cluster) -> bool {
        match &self.run {
            Run::Cel(b) => vap::selected(b, s, cluster),
            Run::Gatekeeper { constraint, .. } | Run::GatekeeperCel { constraint, .. } => {
                rego::matches(constraint, s, cluster)
            }
            Run::Kyverno { policy, rules } => kyverno::may_apply(policy, rules, s, cluster),
        }
    }

    fn uses_inventory(&self) -> bool {
        matches!(&self.run, Run::Gatekeeper { program: Ok(p), .. } if p.uses_inventory)
    }
}

/// The digest of a policy made of two objects (a VAP and its binding, a
/// constraint and its template).
fn pair(a: &[u8; 32], b: &[u8; 32]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(a);
    h.update(b);
    h.finalize().into()
}

/// The digest of a cluster's policies: which of them may apply depends on
/// them and on what matching reads of the object (and on the cluster's
/// name, when a policy names its label).
fn policy_set(policies: &[Policy], cluster: &str) -> [u8; 32] {
    let mut set = Sha256::new();
    for p in policies {
        set.update(p.digest);
    }
    if policies.iter().any(|p| p.reads.cluster) {
        set.update(cluster.as_bytes());
    }
    set.finalize().into()
}

/// What matching reads of an object: its kind and resource, name,
/// namespace (and the namespace's digest), labels and annotations.
fn identity(
    subject: &Subject,
    ns_digests: &BTreeMap<&String, [u8; 32]>,
    buf: &mut Vec<u8>,
) -> [u8; 32] {
    let ns = subject.namespace.as_ref();
    let ns_digest = ns
        .and_then(|n| ns_digests.get(n))
        .copied()
        .unwrap_or([0; 32]);
    let req = subject.req();
    reads::identity_digest(
        &subject.resource.node,
        &[
            req.group.as_bytes(),
            req.version.as_bytes(),
            req.kind.as_bytes(),
            req.resource.as_bytes(),
            subject.name.as_bytes(),
            ns.map_or(&b"\0"[..], |n| n.as_bytes()),
            &ns_digest,
        ],
        buf,
    )
}

/// A namespace's digest, its cluster label left out (as an object's).
fn namespace_digest(ns: &Json) -> [u8; 32] {
    let labelled = ns
        .pointer("/metadata/labels")
        .and_then(Json::as_object)
        .is_some_and(|l| l.contains_key(reads::CLUSTER_LABEL));
    if !labelled {
        return json_digest(ns);
    }
    let mut ns = ns.clone();
    if let Some(l) = ns
        .pointer_mut("/metadata/labels")
        .and_then(Json::as_object_mut)
    {
        l.shift_remove(reads::CLUSTER_LABEL);
    }
    json_digest(&ns)
}

/// The digest of a JSON value's serialisation (written straight into a
/// buffer: `to_string` goes through the formatting machinery).
fn json_digest(j: &Json) -> [u8; 32] {
    let mut buf = Vec::with_capacity(512);
    // Writing a Value to a Vec cannot fail.
    let _ = serde_json::to_writer(&mut buf, j);
    Sha256::digest(&buf).into()
}

/// An admission policy object rendered on a cluster, as JSON.
struct PolicyObject {
    group: String,
    kind: String,
    json: Arc<Json>,
    /// The digest of the rendered object (its cluster label left out).
    digest: [u8; 32],
    span: Span,
}

/// The admission policy objects rendered on a cluster; each distinct one
/// is made JSON once for the fleet (`json` keeps them by digest).
fn policy_objects(rc: &RenderedCluster, json: &Memo<[u8; 32], Arc<Json>>) -> Vec<PolicyObject> {
    rc.units
        .iter()
        .flat_map(|u| &u.resources)
        .filter(|r| {
            matches!(
                (r.group.as_str(), r.kind.as_str()),
                ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy")
                    | (
                        "admissionregistration.k8s.io",
                        "ValidatingAdmissionPolicyBinding"
                    )
                    | ("policies.kyverno.io", "ValidatingPolicy")
                    | ("templates.gatekeeper.sh", "ConstraintTemplate")
                    | ("kyverno.io", "ClusterPolicy" | "Policy" | "PolicyException")
                    | ("constraints.gatekeeper.sh", _)
            )
        })
        .map(|r| {
            let digest = crate::accept::digest(&r.node);
            let j = json.get_or(&digest, || {
                let mut j = r.node.to_json();
                // The one label that differs on every cluster by construction.
                if let Some(l) = j
                    .pointer_mut("/metadata/labels")
                    .and_then(Json::as_object_mut)
                {
                    l.shift_remove(reads::CLUSTER_LABEL);
                }
                Arc::new(j)
            });
            PolicyObject {
                group: r.group.clone(),
                kind: r.kind.clone(),
                json: j,
                digest,
                span: name_span(r),
            }
        })
        .collect()
}

/// The policies the objects make: each VAP with each of its bindings, each
/// Kyverno ValidatingPolicy, each Gatekeeper constraint with its template.
fn policies<'a>(
    objects: &'a [PolicyObject],
    template: &dyn Fn(&Json) -> rego::Compiled,
    rules: &dyn Fn(&PolicyObject) -> Rules,
) -> Vec<Policy<'a>> {
    let mut out = Vec::new();
    for o in objects {
        match (o.group.as_str(), o.kind.as_str()) {
            ("constraints.gatekeeper.sh", kind) => {
                let t = objects.iter().find(|t| {
                    t.kind == "ConstraintTemplate"
                        && t.json["spec"]["crd"]["spec"]["names"]["kind"].as_str() == Some(kind)
                });
                if let Some(t) = t {
                    let run = match rego::template_cel(&t.json) {
                        Some(source) => Run::GatekeeperCel {
                            constraint: &o.json,
                            template: &t.json,
                            source,
                        },
                        None => Run::Gatekeeper {
                            constraint: &o.json,
                            template: &t.json,
                            program: template(&t.json),
                        },
                    };
                    out.push(Policy {
                        run,
                        span: o.span.clone(),
                        digest: pair(&o.digest, &t.digest),
                        reads: Arc::new(reads::Reads::all()),
                    });
                }
            }
            ("admissionregistration.k8s.io", "ValidatingAdmissionPolicyBinding") => {
                let name = o.json["spec"]["policyName"].as_str();
                let vap = objects.iter().find(|p| {
                    p.kind == "ValidatingAdmissionPolicy"
                        && p.json["metadata"]["name"].as_str() == name
                });
                if let Some(vap) = vap {
                    out.push(Policy {
                        run: Run::Cel(vap::Bound {
                            policy: &vap.json,
                            binding: Some(&o.json),
                            engine: Engine::ValidatingAdmissionPolicy,
                        }),
                        span: vap.span.clone(),
                        digest: pair(&vap.digest, &o.digest),
                        reads: Arc::new(reads::Reads::all()),
                    });
                }
            }
            ("kyverno.io", "ClusterPolicy" | "Policy") => out.push(Policy {
                run: Run::Kyverno {
                    policy: &o.json,
                    rules: rules(o),
                },
                span: o.span.clone(),
                digest: o.digest,
                reads: Arc::new(reads::Reads::all()),
            }),
            ("policies.kyverno.io", "ValidatingPolicy") => out.push(Policy {
                run: Run::Cel(vap::Bound {
                    policy: &o.json,
                    binding: None,
                    engine: Engine::Kyverno,
                }),
                span: o.span.clone(),
                digest: o.digest,
                reads: Arc::new(reads::Reads::all()),
            }),
            _ => {}
        }
    }
    out
}

fn name_span(r: &Resource) -> Span {
    r.node
        .get_path(&["metadata", "name"])
        .map(|n| n.span.clone())
        .unwrap_or_else(|| r.node.span.clone())
}

/// The objects and namespaces of one cluster.
fn view<'a>(repo: &Repo, rc: &'a RenderedCluster, format: Format) -> Cluster<'a> {
    let mut namespaces = BTreeMap::new();
    for ns in crate::render::namespaces::existing(repo, &rc.name, format) {
        namespaces.insert(
            ns.clone(),
            serde_json::json!({"apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": ns, "labels": {"kubernetes.io/metadata.name": ns}}}),
        );
    }
    let mut plurals: HashMap<(String, String), String> = HashMap::new();
    // The CRDs declared for every cluster, for this one, or by units.
    let fleet = repo.fleet.iter().map(|f| &f.crds);
    let own = repo.cluster(&rc.name).map(|c| &c.crds);
    let units = repo.units.iter().map(|u| &u.crds);
    let declared = fleet.chain(own).chain(units).flat_map(|d| &d.objects);
    let rendered = rc
        .units
        .iter()
        .flat_map(|u| &u.resources)
        .filter(|r| crate::kube::crd_defines(&r.group, &r.kind, &r.node).is_some())
        .map(|r| &r.node);
    for crd in declared.chain(rendered) {
        if let (Some((g, k)), Some(p)) = (
            crate::kube::crd_defines("apiextensions.k8s.io", "CustomResourceDefinition", crd),
            crd.get_path(&["spec", "names", "plural"])
                .and_then(crate::yaml::Node::as_str),
        ) {
            plurals.insert((g.to_string(), k.to_string()), p.to_string());
        }
    }
    let mut objects = Vec::with_capacity(rc.units.iter().map(|u| u.resources.len()).sum());
    for r in rc.units.iter().flat_map(|u| &u.resources) {
        if r.group.is_empty() && r.kind == "Namespace" {
            let mut ns = r.node.to_json();
            ns["metadata"]["labels"]["kubernetes.io/metadata.name"] = Json::String(r.name.clone());
            namespaces.insert(r.name.clone(), ns);
        }
        let version = r
            .api_version
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_string();
        let declared = (!plurals.is_empty())
            .then(|| plurals.get(&(r.group.clone(), r.kind.clone())).cloned())
            .flatten();
        let plural = declared.unwrap_or_else(|| select::plural(&r.kind));
        objects.push(Subject {
            resource: r,
            api_version: r.api_version.clone(),
            kind: r.kind.clone(),
            name: r.name.clone(),
            namespace: r.namespace.clone(),
            group: r.group.clone(),
            version,
            plural,
            json: std::sync::OnceLock::new(),
            cel: std::sync::OnceLock::new(),
            request: std::sync::OnceLock::new(),
            review: std::sync::OnceLock::new(),
            scopes: Default::default(),
            kyverno: std::sync::OnceLock::new(),
            labels: std::sync::OnceLock::new(),
        });
    }
    Cluster {
        name: rc.name.clone(),
        namespaces,
        objects,
        resources: std::sync::OnceLock::new(),
    }
}

/// How the related label names the rule that failed.
fn rule_label(f: &Finding) -> String {
    match f.rule.parse::<usize>() {
        Ok(i) => format!("validations[{i}] of this policy"),
        Err(_) => format!("rule `{}` of this policy", f.rule),
    }
}

/// The diagnostic of one finding (None for a pass or a skip).
fn diagnostic(f: &Finding, s: &Subject, policy_span: &Span, cluster: &str) -> Option<Diagnostic> {
    if matches!(f.outcome, Outcome::Pass | Outcome::Skip) {
        return None;
    }
    let what = match (&f.engine, &f.binding) {
        (Engine::ValidatingAdmissionPolicy, Some(b)) => {
            format!("ValidatingAdmissionPolicy `{}` (binding `{b}`)", f.policy)
        }
        (Engine::Kyverno, _) => format!("Kyverno policy `{}`", f.policy),
        (Engine::Gatekeeper, _) => format!("Gatekeeper constraint `{}`", f.policy),
        (e, _) => format!("{} `{}`", e.as_str(), f.policy),
    };
    let object = match &s.namespace {
        Some(ns) => format!("{} `{ns}/{}`", s.kind, s.name),
        None => format!("{} `{}`", s.kind, s.name),
    };
    let d = match f.outcome {
        Outcome::Pass | Outcome::Skip => return None,
        Outcome::Fail if f.enforce => Diagnostic::error(
            Code::AdmissionDenied,
            format!("{what} denies {object}: {}", f.message),
        )
        .help(format!(
            "the cluster's admission would reject it ({}): change the object, or exempt the cluster from the policy",
            f.actions
        )),
        Outcome::Fail => Diagnostic::warning(
            Code::AdmissionWarning,
            format!("{what} flags {object}: {}", f.message),
        )
        .help(format!(
            "the policy audits here ({}): the object is admitted and reported; it would be rejected where the policy enforces",
            f.actions
        )),
        Outcome::Error => Diagnostic::error(
            Code::AdmissionError,
            format!("{what} cannot evaluate {object}: {}", f.message),
        )
        .help("its failurePolicy is Fail, so the cluster rejects the object while the policy errs: fix the policy's expression"),
        Outcome::Ignored => Diagnostic::warning(
            Code::AdmissionError,
            format!("{what} cannot evaluate {object}: {}", f.message),
        )
        .help("its failurePolicy is Ignore, so the object is admitted unchecked: fix the policy's expression"),
        Outcome::Budget => Diagnostic::error(
            Code::AdmissionBudget,
            format!("{what} is too costly to evaluate on {object}: {}", f.message),
        )
        .help("simplify the expression (fewer nested comprehensions over large lists), or raise `--limit admission-cost`"),
    };
    let span = s
        .resource
        .node
        .get_path(&["metadata", "name"])
        .map(|n| n.span.clone())
        .unwrap_or_else(|| s.resource.node.span.clone());
    Some(
        d.at(&span)
            .policy(f.policy.clone(), f.rule.clone())
            .related(policy_span, rule_label(f))
            .on_cluster(cluster)
            .object(s.resource.object_ref()),
    )
}
