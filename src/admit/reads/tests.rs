//! The analysis against the evaluators themselves: two clusters whose
//! objects differ in one place, reviewed by one admission (answers shared)
//! and the second again by a fresh one. The shared answers must be the
//! fresh ones, whatever the difference; and a difference no policy reads
//! must not cost a new evaluation.

use super::super::tests::cluster;
use super::super::{Admission, Outcome};
use crate::diag::{Diags, Source};
use crate::load::model::{Format, Repo};
use crate::yaml::{parse_documents, Budget, Node};

/// Policies of the three engines, written like the libraries' ones, that
/// read objects in every way the analysis follows.
const POLICIES: &str = r#"
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: containers}
spec:
  failurePolicy: Fail
  matchConstraints:
    resourceRules:
      - {apiGroups: [apps], apiVersions: [v1], operations: [CREATE], resources: [deployments]}
  variables:
    - name: containers
      expression: "object.spec.template.spec.containers + object.spec.template.spec.?initContainers.orValue([])"
  validations:
    - expression: "variables.containers.all(c, !c.image.endsWith(':latest'))"
      messageExpression: "'latest in ' + variables.containers.filter(c, c.image.endsWith(':latest')).map(c, c.name).join(', ')"
    - expression: "variables.containers.all(c, has(c.securityContext) && c.securityContext.?allowPrivilegeEscalation.orValue(true) == false)"
    - expression: "object.spec.replicas <= 3 || 'ha' in object.metadata.labels"
    - expression: "size(object.spec.template.spec.containers) < 3"
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {name: containers}
spec:
  policyName: containers
  validationActions: [Deny]
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: config}
spec:
  matchConstraints:
    resourceRules:
      - {apiGroups: [""], apiVersions: [v1], operations: [CREATE], resources: [configmaps]}
  validations:
    - expression: "has(object.data) && 'cluster' in object.data && object.data.cluster.size() > 0"
    - expression: "object.data.size() <= 3 && object.data.all(k, k.matches('^[a-z]+$'))"
      messageExpression: "'keys: ' + object.data.map(k, k).join(',')"
    - expression: "!has(object.metadata.annotations) || object.metadata.annotations.all(k, object.metadata.annotations[k] != '')"
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {name: config}
spec:
  policyName: config
  validationActions: [Audit]
---
apiVersion: kyverno.io/v1
kind: ClusterPolicy
metadata: {name: pods}
spec:
  validationFailureAction: Audit
  rules:
    - name: tag
      match:
        any:
          - resources: {kinds: [Pod]}
      validate:
        message: "{{ element.name }} needs a pinned tag"
        foreach:
          - list: request.object.spec.containers
            pattern:
              image: "*:* & !*:latest"
    - name: limits
      match:
        any:
          - resources: {kinds: [Pod]}
      preconditions:
        all:
          - {key: "{{ request.object.spec.containers[].name | length(@) }}", operator: GreaterThan, value: 0}
      validate:
        message: "memory limits up to 1Gi"
        pattern:
          spec:
            containers:
              - =(resources):
                  =(limits):
                    =(memory): "<=1Gi"
    - name: drop
      match:
        any:
          - resources: {kinds: [Pod]}
      validate:
        message: "{{ element.name }} drops ALL"
        foreach:
          - list: request.object.spec.containers
            deny:
              conditions:
                all:
                  - key: ALL
                    operator: AnyNotIn
                    value: "{{ element.securityContext.capabilities.drop[] || `[]` }}"
    - name: baseline
      match:
        any:
          - resources: {kinds: [Pod]}
      validate:
        podSecurity: {level: baseline, version: latest}
    - name: config-size
      match:
        any:
          - resources: {kinds: [ConfigMap]}
      validate:
        message: "at most 3 keys"
        deny:
          conditions:
            any:
              - {key: "{{ length(keys(request.object.data)) }}", operator: GreaterThan, value: 3}
---
apiVersion: templates.gatekeeper.sh/v1
kind: ConstraintTemplate
metadata: {name: k8sworkloads}
spec:
  crd:
    spec:
      names: {kind: K8sWorkloads}
  targets:
    - target: admission.k8s.gatekeeper.sh
      rego: |
        package k8sworkloads
        import data.lib.pods.containers

        violation[{"msg": msg}] {
          c := containers(input.review.object)[_]
          not startswith(c.image, "r.io/")
          msg := sprintf("%v uses %v", [c.name, c.image])
        }

        violation[{"msg": msg}] {
          n := count(object.get(input.review.object, ["spec", "template", "spec", "containers"], []))
          n > 2
          msg := sprintf("%v containers", [n])
        }

        violation[{"msg": "no probe"}] {
          c := input.review.object.spec.template.spec.containers[_]
          not has_probe(c)
        }

        has_probe(c) { c.readinessProbe }
      libs:
        - |
          package lib.pods
          containers(obj) = cs { cs := obj.spec.template.spec.containers }
---
apiVersion: constraints.gatekeeper.sh/v1beta1
kind: K8sWorkloads
metadata: {name: workloads}
spec:
  enforcementAction: deny
  match:
    kinds: [{apiGroups: [apps], kinds: [Deployment]}]
"#;

/// A Deployment, a Pod and a ConfigMap; `edit` changes the text.
fn objects(edit: &dyn Fn(String) -> String) -> String {
    edit(
        r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop, labels: {app: web}}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
        - name: app
          image: r.io/web:1.0
          env: [{name: CLUSTER, value: c1}]
          readinessProbe: {httpGet: {path: /, port: 80}}
          securityContext: {allowPrivilegeEscalation: false}
---
apiVersion: v1
kind: Pod
metadata: {name: job, namespace: shop}
spec:
  containers:
    - name: run
      image: r.io/job:2
      env: [{name: CLUSTER, value: c1}]
      resources: {limits: {memory: 512Mi}}
      securityContext: {capabilities: {drop: [ALL]}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: shop}
data: {cluster: c1, region: eu}
"#
        .to_string(),
    )
}

/// Edits of the objects: some where no policy looks, most where one does.
const EDITS: &[(&str, &str)] = &[
    ("value: c1}]", "value: c2}]"),
    ("data: {cluster: c1, region: eu}", "data: {cluster: c2, region: us}"),
    ("image: r.io/web:1.0", "image: r.io/web:latest"),
    ("image: r.io/web:1.0", "image: docker.io/web:1.0"),
    ("image: r.io/job:2", "image: r.io/job:latest"),
    ("image: r.io/job:2", "image: r.io/job"),
    ("replicas: 2", "replicas: 5"),
    ("labels: {app: web}}\nspec:\n  replicas: 2", "labels: {app: web, ha: 'yes'}}\nspec:\n  replicas: 5"),
    ("securityContext: {allowPrivilegeEscalation: false}", "securityContext: {}"),
    ("          securityContext: {allowPrivilegeEscalation: false}\n", ""),
    ("          readinessProbe: {httpGet: {path: /, port: 80}}\n", ""),
    ("memory: 512Mi", "memory: 2Gi"),
    ("      resources: {limits: {memory: 512Mi}}\n", ""),
    ("drop: [ALL]", "drop: [NET_RAW]"),
    ("    - name: run\n", "    - name: run2\n"),
    ("spec:\n  containers:\n", "spec:\n  hostNetwork: true\n  containers:\n"),
    ("data: {cluster: c1, region: eu}", "data: {cluster: c1, region: eu, a: '1', b: '2'}"),
    ("      containers:\n        - name: app\n", "      initContainers:\n        - {name: init, image: 'r.io/init:latest'}\n      containers:\n        - name: app\n"),
    ("      containers:\n        - name: app\n", "      containers:\n        - {name: side, image: 'x.io/side:1'}\n        - {name: more, image: 'r.io/more:1', readinessProbe: {exec: {command: [a]}}}\n        - name: app\n"),
    ("namespace: shop}\nspec:\n  containers", "namespace: lab}\nspec:\n  containers"),
];

type Seen = Vec<(String, String, String, Outcome, String)>;

/// What `a` said of cluster `name`'s objects.
fn said(a: &Admission, name: &str) -> Seen {
    a.results()
        .into_iter()
        .filter(|r| r.cluster == name)
        .map(|r| {
            (
                r.object.name,
                r.finding.policy,
                r.finding.rule,
                r.finding.outcome,
                r.finding.message,
            )
        })
        .collect()
}

fn admission() -> Admission {
    Admission::new(Format::Plain, 10_000_000, "2026-12-04").keeping_results(true)
}

#[test]
fn shared_answers_are_the_fresh_ones_for_every_edit() {
    let base = format!("{POLICIES}---{}", objects(&|s| s));
    for (from, to) in EDITS {
        let edited = format!(
            "{POLICIES}---{}",
            objects(&|s| {
                assert!(s.contains(from), "edit {from:?} finds nothing");
                s.replacen(from, to, 1)
            })
        );
        let shared = admission();
        let mut d = Diags::default();
        shared.cluster(&Repo::default(), &cluster("c1", &base), &mut d);
        shared.cluster(&Repo::default(), &cluster("c2", &edited), &mut d);
        let fresh = admission();
        fresh.cluster(
            &Repo::default(),
            &cluster("c2", &edited),
            &mut Diags::default(),
        );
        let (got, want) = (said(&shared, "c2"), said(&fresh, "c2"));
        assert_eq!(got, want, "edit {from:?} -> {to:?}");
        // The edits are real: the policies see something, and fail somewhere.
        assert!(want.iter().any(|r| r.3 == Outcome::Pass));
    }
}

/// CEL is handed only what each policy reads of an object (a
/// projection); its answers must be those of the whole object, for every
/// edit (debug builds also check that each projection hashes as the
/// object does).
#[test]
fn projected_objects_answer_as_whole_ones() {
    for (from, to) in EDITS.iter().chain(&[("", "")]) {
        let text = format!("{POLICIES}---{}", objects(&|s| s.replacen(from, to, 1)));
        let projected = admission();
        let whole = admission().whole_objects();
        for a in [&projected, &whole] {
            a.cluster(
                &Repo::default(),
                &cluster("c1", &text),
                &mut Diags::default(),
            );
        }
        let (got, want) = (said(&projected, "c1"), said(&whole, "c1"));
        assert_eq!(got, want, "edit {from:?} -> {to:?}");
        assert!(want.iter().any(|r| r.1 == "config"));
    }
}

#[test]
fn an_edit_no_policy_reads_costs_no_evaluation() {
    let base = format!("{POLICIES}---{}", objects(&|s| s));
    let a = admission();
    a.cluster(
        &Repo::default(),
        &cluster("c1", &base),
        &mut Diags::default(),
    );
    let before = a.answers.len();
    // The cluster's name in an environment variable: every cluster's own.
    let other = format!(
        "{POLICIES}---{}",
        objects(&|s| s.replace("value: c1}]", "value: c2}]"))
    );
    a.cluster(
        &Repo::default(),
        &cluster("c2", &other),
        &mut Diags::default(),
    );
    assert_eq!(a.answers.len(), before);
    // An image is read: the policies reading it answer again.
    let image = format!(
        "{POLICIES}---{}",
        objects(&|s| s.replace("r.io/web:1.0", "r.io/web:2.0"))
    );
    a.cluster(
        &Repo::default(),
        &cluster("c3", &image),
        &mut Diags::default(),
    );
    assert!(a.answers.len() > before);
}

#[test]
fn what_expressions_read() {
    use super::cel;
    let compile = |s: &str| crate::admit::cel::compile(s).map(std::sync::Arc::new);
    let reads = |src: &str| {
        let mut out = super::Reads::default();
        let a = cel::expression(src, &compile, &mut cel::env(), &mut out);
        out.consume(&a);
        out
    };
    let node = |yaml: &str| {
        let src = Source::new("o.yaml", yaml);
        parse_documents(&src, &Budget::default())
            .expect("yaml")
            .remove(0)
    };
    let a = node("spec: {containers: [{name: a, image: x, env: [{name: E, value: '1'}]}]}");
    let b = node("spec: {containers: [{name: a, image: x, env: [{name: E, value: '2'}]}]}");
    let c = node("spec: {containers: [{name: a, image: y, env: [{name: E, value: '1'}]}]}");
    let digest = |r: &super::Reads, n: &Node| super::digest(r, n, &mut Vec::new());
    let images = reads("object.spec.containers.all(c, c.image != 'z')");
    assert_eq!(digest(&images, &a), digest(&images, &b));
    assert_ne!(digest(&images, &a), digest(&images, &c));
    // The whole object, passed to a function, is read whole.
    let whole = reads("string(object).size() > 0");
    assert!(whole.is_all() || digest(&whole, &a) != digest(&whole, &b));
    // A Rego walk over the input reads everything.
    let rego = super::rego::template(
        "package x\nviolation[{\"msg\": \"m\"}] { walk(input, [p, v]) }",
        &[],
    );
    assert!(rego.is_all());
}
