//! Admission on small clusters of our own objects, modelled on the
//! examples of the Kubernetes documentation, kyverno/policies and
//! gatekeeper-library: each policy with objects it admits and objects it
//! rejects.

use super::{Admission, Outcome, Reported};
use crate::diag::{Diags, Source};
use crate::load::model::{Format, Repo, UnitKind};
use crate::render::{RenderedCluster, RenderedUnit, Resource};
use crate::yaml::{parse_documents, Budget, Node};

/// One cluster holding `yaml`'s objects, reviewed; (results, diagnostics).
fn review(yaml: &str) -> (Vec<Reported>, Diags) {
    review_with(yaml, 10_000_000)
}

fn review_with(yaml: &str, budget: u64) -> (Vec<Reported>, Diags) {
    let a = Admission::new(Format::Plain, budget, "2026-12-04").keeping_results(true);
    let mut d = Diags::default();
    a.cluster(&Repo::default(), &cluster("c1", yaml), &mut d);
    (a.results(), d)
}

/// A cluster `name` holding `yaml`'s objects, as one component's.
pub(super) fn cluster(name: &str, yaml: &str) -> RenderedCluster {
    let src = Source::new("cluster.yaml", yaml);
    let docs = parse_documents(&src, &Budget::default()).expect("yaml");
    RenderedCluster {
        name: name.into(),
        units: vec![RenderedUnit {
            unit: 0,
            name: "u".into(),
            kind: UnitKind::Component,
            placement: None,
            version: None,
            mode: None,
            wave: None,
            patches: Vec::new(),
            resources: docs.into_iter().map(resource).collect(),
            sops: Vec::new(),
        }],
    }
}

fn resource(node: Node) -> Resource {
    let s = |path: &[&str]| node.get_path(path).and_then(Node::as_str).map(String::from);
    let api_version = s(&["apiVersion"]).unwrap_or_default();
    Resource {
        group: crate::kube::group_of(&api_version).to_string(),
        api_version,
        kind: s(&["kind"]).unwrap_or_default(),
        name: s(&["metadata", "name"]).unwrap_or_default(),
        namespace: s(&["metadata", "namespace"]),
        source: "cluster.yaml".into(),
        path: String::new(),
        node,
    }
}

/// (object name, rule, outcome) of every result that is not a pass.
fn verdicts(results: &[Reported]) -> Vec<(String, String, Outcome)> {
    let mut v: Vec<_> = results
        .iter()
        .filter(|r| r.finding.outcome != Outcome::Pass)
        .map(|r| {
            (
                r.object.name.clone(),
                r.finding.rule.clone(),
                r.finding.outcome,
            )
        })
        .collect();
    v.sort();
    v
}

fn passes(results: &[Reported], name: &str) -> bool {
    results
        .iter()
        .filter(|r| r.object.name == name)
        .all(|r| r.finding.outcome == Outcome::Pass)
        && results.iter().any(|r| r.object.name == name)
}

const REPLICA_LIMIT: &str = r#"
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: replica-limit}
spec:
  failurePolicy: Fail
  paramKind: {apiVersion: v1, kind: ConfigMap}
  matchConstraints:
    resourceRules:
      - {apiGroups: [apps], apiVersions: [v1], operations: [CREATE, UPDATE], resources: [deployments]}
  validations:
    - expression: "object.spec.replicas <= int(params.data.maxReplicas)"
      messageExpression: "'replicas must be at most ' + params.data.maxReplicas"
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {name: replica-limit-prod}
spec:
  policyName: replica-limit
  validationActions: [Deny]
  paramRef: {name: replica-limits, namespace: policy-params, parameterNotFoundAction: Deny}
  matchResources:
    namespaceSelector:
      matchLabels: {environment: prod}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: replica-limits, namespace: policy-params}
data: {maxReplicas: "5"}
---
apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {environment: prod}}
---
apiVersion: v1
kind: Namespace
metadata: {name: lab, labels: {environment: test}}
"#;

fn deployment(name: &str, ns: &str, replicas: u32) -> String {
    format!(
        "---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: {name}, namespace: {ns}}}\nspec:\n  replicas: {replicas}\n  selector: {{matchLabels: {{app: {name}}}}}\n  template:\n    metadata: {{labels: {{app: {name}}}}}\n    spec: {{containers: [{{name: app, image: 'r.io/app:1'}}]}}\n"
    )
}

#[test]
fn vap_params_and_namespace_selector_from_rendered_namespaces() {
    let yaml = format!(
        "{REPLICA_LIMIT}{}{}{}",
        deployment("small", "shop", 3),
        deployment("big", "shop", 9),
        // Not selected: its namespace is labelled test.
        deployment("big-lab", "lab", 9)
    );
    let (results, diags) = review(&yaml);
    assert_eq!(
        verdicts(&results),
        vec![("big".to_string(), "0".to_string(), Outcome::Fail)]
    );
    assert!(passes(&results, "small"));
    assert!(!results.iter().any(|r| r.object.name == "big-lab"));
    let d = &diags.items[0];
    assert_eq!(d.code, crate::diag::Code::AdmissionDenied);
    assert!(
        d.message.contains("replicas must be at most 5"),
        "{}",
        d.message
    );
}

#[test]
fn vap_params_not_found() {
    let deny = REPLICA_LIMIT.replacen(
        "name: replica-limits, namespace",
        "name: missing, namespace",
        1,
    );
    let (results, _) = review(&format!("{deny}{}", deployment("small", "shop", 1)));
    assert_eq!(
        verdicts(&results),
        vec![("small".to_string(), "params".to_string(), Outcome::Fail)]
    );
    let allow = deny.replace(
        "parameterNotFoundAction: Deny",
        "parameterNotFoundAction: Allow",
    );
    let (results, diags) = review(&format!("{allow}{}", deployment("small", "shop", 1)));
    assert!(results.is_empty() && diags.items.is_empty());
}

#[test]
fn vap_audit_actions_warn() {
    let audit = REPLICA_LIMIT.replace(
        "validationActions: [Deny]",
        "validationActions: [Warn, Audit]",
    );
    let (_, diags) = review(&format!("{audit}{}", deployment("big", "shop", 9)));
    assert_eq!(diags.items.len(), 1);
    assert!(!diags.has_errors());
    assert_eq!(diags.items[0].code, crate::diag::Code::AdmissionWarning);
}

const LABELS: &str = r#"
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: team-label}
spec:
  failurePolicy: FAILURE
  matchConstraints:
    resourceRules:
      - {apiGroups: ["*"], apiVersions: ["*"], operations: ["*"], resources: ["*"]}
    excludeResourceRules:
      - {apiGroups: [""], apiVersions: [v1], operations: ["*"], resources: [namespaces]}
    objectSelector:
      matchExpressions: [{key: exempt, operator: DoesNotExist}]
  matchConditions:
    - name: not-a-configmap
      expression: "object.kind != 'ConfigMap'"
  validations:
    - expression: "object.metadata.labels.team != ''"
      message: every object names its team
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {name: team-label}
spec:
  policyName: team-label
  validationActions: [Deny]
---
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: Service
metadata: {name: labelled, namespace: shop, labels: {team: a}}
spec: {ports: [{port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: no-labels, namespace: shop}
spec: {ports: [{port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: exempt, namespace: shop, labels: {exempt: "yes"}}
spec: {ports: [{port: 80}]}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: shop}
"#;

#[test]
fn vap_match_conditions_exclusions_and_failure_policy() {
    // `object.metadata.labels` is absent on `no-labels`: a runtime error,
    // which fails closed under Fail (an error) and open under Ignore (a
    // warning); never a pass.
    let (results, diags) = review(&LABELS.replace("FAILURE", "Fail"));
    assert_eq!(
        verdicts(&results),
        vec![("no-labels".to_string(), "0".to_string(), Outcome::Error)]
    );
    assert!(passes(&results, "labelled"));
    for skipped in ["exempt", "settings", "shop"] {
        assert!(
            !results.iter().any(|r| r.object.name == skipped),
            "{skipped}"
        );
    }
    assert!(diags.has_errors());
    assert_eq!(diags.items[0].code, crate::diag::Code::AdmissionError);
    let (results, diags) = review(&LABELS.replace("FAILURE", "Ignore"));
    assert_eq!(
        verdicts(&results),
        vec![("no-labels".to_string(), "0".to_string(), Outcome::Ignored)]
    );
    assert!(!diags.has_errors() && diags.items.len() == 1);
}

#[test]
fn vap_without_binding_does_nothing_and_user_info_is_skipped() {
    let unbound = LABELS.replacen(
        "kind: ValidatingAdmissionPolicyBinding",
        "kind: ValidatingAdmissionPolicyBindingX",
        1,
    );
    let (results, _) = review(&unbound.replace("FAILURE", "Fail"));
    assert!(results.is_empty());
    let who = LABELS.replace("FAILURE", "Fail").replace(
        "object.metadata.labels.team != ''",
        "request.userInfo.username != 'admin'",
    );
    let (results, diags) = review(&who);
    assert!(
        results.iter().all(|r| r.finding.outcome == Outcome::Skip),
        "{results:?}"
    );
    assert!(results
        .iter()
        .any(|r| r.finding.message.contains("userInfo")));
    assert!(diags.items.is_empty());
}

#[test]
fn kyverno_validating_policy() {
    let policy = r#"
apiVersion: policies.kyverno.io/v1
kind: ValidatingPolicy
metadata: {name: disallow-latest-tag}
spec:
  validationActions: [Deny]
  matchConstraints:
    resourceRules:
      - {apiGroups: [""], apiVersions: [v1], operations: [CREATE, UPDATE], resources: [pods]}
  variables:
    - name: images
      expression: "object.spec.containers.map(c, c.image)"
  validations:
    - expression: "variables.images.all(i, !i.endsWith(':latest') && i.contains(':'))"
      message: "images must name a tag other than latest"
---
apiVersion: v1
kind: Pod
metadata: {name: pinned, namespace: default}
spec: {containers: [{name: a, image: 'r.io/a:1.2'}]}
---
apiVersion: v1
kind: Pod
metadata: {name: latest, namespace: default}
spec: {containers: [{name: a, image: 'r.io/a:latest'}]}
"#;
    let (results, diags) = review(policy);
    assert_eq!(
        verdicts(&results),
        vec![("latest".to_string(), "0".to_string(), Outcome::Fail)]
    );
    assert!(passes(&results, "pinned"));
    assert!(diags.items[0].message.contains("images must name a tag"));
}

#[test]
fn a_runaway_expression_hits_the_budget() {
    let hostile = LABELS.replace("FAILURE", "Ignore").replace(
        "object.metadata.labels.team != ''",
        "[1,2,3,4,5,6,7,8,9,10].all(a, [1,2,3,4,5,6,7,8,9,10].all(b, [1,2,3,4,5,6,7,8,9,10].all(c, [1,2,3,4,5,6,7,8,9,10].all(d, a+b+c+d > 0))))",
    );
    let (results, diags) = review_with(&hostile, 1_000);
    assert!(results.iter().any(|r| r.finding.outcome == Outcome::Budget));
    // Over the budget is an error whatever the failure policy.
    assert!(diags.has_errors());
    assert_eq!(diags.items[0].code, crate::diag::Code::AdmissionBudget);
    let (results, _) = review_with(&hostile, 10_000_000);
    assert!(results.iter().all(|r| r.finding.outcome != Outcome::Budget));
}

/// A Gatekeeper template that requires labels, written as the library's
/// required-labels template is (Rego v0), with its constraint.
const REQUIRED_LABELS: &str = r#"
apiVersion: templates.gatekeeper.sh/v1
kind: ConstraintTemplate
metadata: {name: k8srequiredlabels}
spec:
  crd:
    spec:
      names: {kind: K8sRequiredLabels}
      validation:
        openAPIV3Schema:
          type: object
          properties:
            labels: {type: array, items: {type: string}}
  targets:
    - target: admission.k8s.gatekeeper.sh
      rego: |
        package k8srequiredlabels

        violation[{"msg": msg, "details": {"missing": missing}}] {
          provided := {k | input.review.object.metadata.labels[k]}
          required := {k | k := input.parameters.labels[_]}
          missing := required - provided
          count(missing) > 0
          msg := sprintf("missing labels: %v", [missing])
        }
---
apiVersion: constraints.gatekeeper.sh/v1beta1
kind: K8sRequiredLabels
metadata: {name: namespaces-need-owner}
spec:
  enforcementAction: ACTION
  match:
    kinds:
      - {apiGroups: [""], kinds: [Namespace]}
    excludedNamespaces: [kube-*]
  parameters:
    labels: [owner]
---
apiVersion: v1
kind: Namespace
metadata: {name: owned, labels: {owner: team-a}}
---
apiVersion: v1
kind: Namespace
metadata: {name: orphan}
---
apiVersion: v1
kind: Namespace
metadata: {name: kube-extra}
"#;

#[test]
fn gatekeeper_template_and_constraint() {
    let (results, diags) = review(&REQUIRED_LABELS.replace("ACTION", "deny"));
    assert_eq!(
        verdicts(&results),
        vec![(
            "orphan".to_string(),
            "K8sRequiredLabels".to_string(),
            Outcome::Fail
        )]
    );
    assert!(passes(&results, "owned"));
    assert!(!results.iter().any(|r| r.object.name == "kube-extra"));
    assert_eq!(diags.items.len(), 1);
    assert_eq!(diags.items[0].code, crate::diag::Code::AdmissionDenied);
    assert!(
        diags.items[0]
            .message
            .contains(r#"missing labels: {"owner"}"#),
        "{}",
        diags.items[0].message
    );
    // dryrun and warn only report.
    for action in ["dryrun", "warn"] {
        let (_, diags) = review(&REQUIRED_LABELS.replace("ACTION", action));
        assert!(!diags.has_errors() && diags.items.len() == 1, "{action}");
    }
    // scoped: the validation webhook's actions decide.
    let scoped = REQUIRED_LABELS.replace(
        "enforcementAction: ACTION",
        "enforcementAction: scoped\n  scopedEnforcementActions:\n    - {action: warn, enforcementPoints: [{name: validation.gatekeeper.sh}]}\n    - {action: deny, enforcementPoints: [{name: audit.gatekeeper.sh}]}",
    );
    let (_, diags) = review(&scoped);
    assert!(!diags.has_errors() && diags.items.len() == 1);
}

/// Modelled on the library's allowed-repos template, written in Rego v1
/// with a lib, and a constraint that selects namespaces by label.
const ALLOWED_REPOS: &str = r#"
apiVersion: templates.gatekeeper.sh/v1
kind: ConstraintTemplate
metadata: {name: k8sallowedrepos}
spec:
  crd:
    spec:
      names: {kind: K8sAllowedRepos}
  targets:
    - target: admission.k8s.gatekeeper.sh
      code:
        - engine: Rego
          source:
            version: v1
            rego: |
              package k8sallowedrepos
              import data.lib.images.containers

              violation contains {"msg": msg} if {
                some c in containers(input.review.object)
                not startswith_any(c.image, input.parameters.repos)
                msg := sprintf("container <%v> image <%v> is not from an allowed repository", [c.name, c.image])
              }

              startswith_any(image, repos) if {
                some r in repos
                startswith(image, r)
              }
            libs:
              - |
                package lib.images
                containers(obj) := obj.spec.containers
---
apiVersion: constraints.gatekeeper.sh/v1beta1
kind: K8sAllowedRepos
metadata: {name: prod-repos}
spec:
  enforcementAction: deny
  match:
    kinds: [{apiGroups: [""], kinds: [Pod]}]
    namespaceSelector:
      matchLabels: {tier: prod}
  parameters:
    repos: ["registry.acme.io/"]
---
apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {tier: prod}}
---
apiVersion: v1
kind: Namespace
metadata: {name: lab}
---
apiVersion: v1
kind: Pod
metadata: {name: good, namespace: shop}
spec: {containers: [{name: a, image: registry.acme.io/a:1}]}
---
apiVersion: v1
kind: Pod
metadata: {name: bad, namespace: shop}
spec: {containers: [{name: a, image: docker.io/a:1}]}
---
apiVersion: v1
kind: Pod
metadata: {name: lab-pod, namespace: lab}
spec: {containers: [{name: a, image: docker.io/a:1}]}
"#;

#[test]
fn gatekeeper_namespace_selector_and_libs_and_rego_v1() {
    let yaml = ALLOWED_REPOS;
    let (results, diags) = review(yaml);
    assert_eq!(
        verdicts(&results),
        vec![(
            "bad".to_string(),
            "K8sAllowedRepos".to_string(),
            Outcome::Fail
        )]
    );
    assert!(passes(&results, "good"));
    assert!(!results.iter().any(|r| r.object.name == "lab-pod"));
    assert!(diags.items[0]
        .message
        .contains("is not from an allowed repository"));
}

#[test]
fn gatekeeper_inventory() {
    // Modelled on the library's unique-ingress-host template: a host
    // another Ingress of the cluster already uses is a violation.
    let yaml = r#"
apiVersion: templates.gatekeeper.sh/v1
kind: ConstraintTemplate
metadata: {name: k8suniqueingresshost}
spec:
  crd:
    spec:
      names: {kind: K8sUniqueIngressHost}
  targets:
    - target: admission.k8s.gatekeeper.sh
      rego: |
        package k8suniqueingresshost

        violation[{"msg": msg}] {
          host := input.review.object.spec.rules[_].host
          other := data.inventory.namespace[ns][_]["Ingress"][name]
          not same(other, input.review.object)
          other.spec.rules[_].host == host
          msg := sprintf("ingress host %v conflicts with ingress %v/%v", [host, ns, name])
        }

        same(a, b) {
          a.metadata.namespace == b.metadata.namespace
          a.metadata.name == b.metadata.name
        }
---
apiVersion: constraints.gatekeeper.sh/v1beta1
kind: K8sUniqueIngressHost
metadata: {name: unique-hosts}
spec:
  match:
    kinds: [{apiGroups: [networking.k8s.io], kinds: [Ingress]}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: shop, namespace: a}
spec: {rules: [{host: shop.acme.io}]}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: shop-copy, namespace: b}
spec: {rules: [{host: shop.acme.io}]}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: blog, namespace: b}
spec: {rules: [{host: blog.acme.io}]}
"#;
    let (results, _) = review(yaml);
    let v = verdicts(&results);
    assert_eq!(v.len(), 2, "{v:?}");
    assert!(v
        .iter()
        .all(|(n, _, o)| (n == "shop" || n == "shop-copy") && *o == Outcome::Fail));
    assert!(passes(&results, "blog"));
}

#[test]
fn gatekeeper_errors_and_budget() {
    // A template that does not compile: every object it matches errs.
    let broken = REQUIRED_LABELS
        .replace("ACTION", "deny")
        .replace("count(missing) > 0", "count(missing) >");
    let (results, diags) = review(&broken);
    assert!(results.iter().any(|r| r.finding.outcome == Outcome::Error));
    assert!(diags.has_errors());
    assert_eq!(diags.items[0].code, crate::diag::Code::AdmissionError);
    // A runaway comprehension hits the instruction budget.
    let runaway = REQUIRED_LABELS.replace("ACTION", "deny").replace(
        "count(missing) > 0",
        "n := count({[a, b, c] | a := numbers.range(1, 200)[_]; b := numbers.range(1, 200)[_]; c := numbers.range(1, 200)[_]})\n          n > 0\n          count(missing) > 0",
    );
    let (results, diags) = review_with(&runaway, 100_000);
    assert!(
        results.iter().any(|r| r.finding.outcome == Outcome::Budget),
        "{results:?}"
    );
    assert_eq!(diags.items[0].code, crate::diag::Code::AdmissionBudget);
}

#[test]
fn gatekeeper_rego_the_vm_does_not_take_runs_on_the_interpreter() {
    // Modelled on the library's HPA replica-spread template: a
    // parenthesised difference compared with a parameter, which regorus'
    // VM compiler does not take yet.
    let yaml = r#"
apiVersion: templates.gatekeeper.sh/v1
kind: ConstraintTemplate
metadata: {name: k8shpaspread}
spec:
  crd:
    spec:
      names: {kind: K8sHpaSpread}
  targets:
    - target: admission.k8s.gatekeeper.sh
      rego: |
        package k8shpaspread

        violation[{"msg": msg}] {
          hpa := input.review.object
          not (hpa.spec.maxReplicas - hpa.spec.minReplicas) >= input.parameters.spread
          msg := sprintf("HPA %v spreads less than %v replicas", [hpa.metadata.name, input.parameters.spread])
        }
---
apiVersion: constraints.gatekeeper.sh/v1beta1
kind: K8sHpaSpread
metadata: {name: spread}
spec:
  match:
    kinds: [{apiGroups: [autoscaling], kinds: [HorizontalPodAutoscaler]}]
  parameters: {spread: 2}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: wide, namespace: a}
spec: {minReplicas: 1, maxReplicas: 5, scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: x}}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: narrow, namespace: a}
spec: {minReplicas: 2, maxReplicas: 3, scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: x}}
"#;
    let (results, _) = review(yaml);
    assert_eq!(
        verdicts(&results),
        vec![(
            "narrow".to_string(),
            "K8sHpaSpread".to_string(),
            Outcome::Fail
        )]
    );
    assert!(passes(&results, "wide"));
}

/// Modelled on kyverno/policies' disallow-latest-tag: a Pod rule, which
/// Kyverno auto-generates for Pod controllers and CronJobs.
const NO_LATEST: &str = r#"
apiVersion: kyverno.io/v1
kind: ClusterPolicy
metadata:
  name: no-latest
  ANNOTATIONS
spec:
  validationFailureAction: Enforce
  rules:
    - name: pinned-tag
      match:
        any:
          - resources: {kinds: [Pod]}
      validate:
        message: "an image tag other than latest is required"
        pattern:
          spec:
            containers:
              - image: "!*:latest & *:*"
"#;

fn workload(kind: &str, name: &str, image: &str) -> String {
    let pod = format!("spec: {{containers: [{{name: app, image: '{image}'}}]}}");
    match kind {
        "Pod" => format!("---\napiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: shop}}\n{pod}\n"),
        "CronJob" => format!(
            "---\napiVersion: batch/v1\nkind: CronJob\nmetadata: {{name: {name}, namespace: shop}}\nspec:\n  schedule: '* * * * *'\n  jobTemplate:\n    spec:\n      template:\n        {pod}\n"
        ),
        _ => format!(
            "---\napiVersion: apps/v1\nkind: {kind}\nmetadata: {{name: {name}, namespace: shop}}\nspec:\n  selector: {{matchLabels: {{app: x}}}}\n  template:\n    metadata: {{labels: {{app: x}}}}\n    {pod}\n"
        ),
    }
}

#[test]
fn kyverno_pattern_and_autogen() {
    let objects = [
        workload("Pod", "pod-ok", "r.io/a:1"),
        workload("Pod", "pod-latest", "r.io/a:latest"),
        workload("Pod", "pod-untagged", "r.io/a"),
        workload("Deployment", "deploy-latest", "r.io/a:latest"),
        workload("StatefulSet", "sts-ok", "r.io/a:2"),
        workload("CronJob", "cron-latest", "r.io/a:latest"),
    ]
    .concat();
    let (results, diags) = review(&format!(
        "{}{objects}",
        NO_LATEST.replace("ANNOTATIONS", "annotations: {}")
    ));
    assert_eq!(
        verdicts(&results),
        vec![
            (
                "cron-latest".to_string(),
                "autogen-cronjob-pinned-tag".to_string(),
                Outcome::Fail
            ),
            (
                "deploy-latest".to_string(),
                "autogen-pinned-tag".to_string(),
                Outcome::Fail
            ),
            (
                "pod-latest".to_string(),
                "pinned-tag".to_string(),
                Outcome::Fail
            ),
            (
                "pod-untagged".to_string(),
                "pinned-tag".to_string(),
                Outcome::Fail
            ),
        ]
    );
    assert!(passes(&results, "pod-ok") && passes(&results, "sts-ok"));
    assert_eq!(diags.error_count(), 4);
    assert!(diags
        .items
        .iter()
        .all(|d| d.code == crate::diag::Code::AdmissionDenied));
    // Auto-generation off: only the Pods are checked.
    let off = NO_LATEST.replace(
        "ANNOTATIONS",
        "annotations: {pod-policies.kyverno.io/autogen-controllers: none}",
    );
    let (results, _) = review(&format!("{off}{objects}"));
    assert!(results.iter().all(|r| r.object.kind == "Pod"));
}

/// Modelled on kyverno/policies' restrict-image-registries (foreach with
/// deny) and restrict-service-external-ips / nodeport (deny with AnyIn),
/// with an override that only audits in the lab namespace.
const REGISTRIES: &str = r#"
apiVersion: kyverno.io/v1
kind: ClusterPolicy
metadata: {name: registries}
spec:
  validationFailureAction: Enforce
  failureActionOverrides:
    - action: Audit
      namespaces: [lab]
  rules:
    - name: trusted-registry
      match:
        any:
          - resources:
              kinds: [Pod]
              namespaceSelector:
                matchExpressions: [{key: tier, operator: In, values: [prod, lab]}]
      exclude:
        any:
          - resources: {names: ["debug-*"]}
      preconditions:
        all:
          - key: "{{ request.object.metadata.labels.\"acme.io/exempt\" || '' }}"
            operator: NotEquals
            value: "true"
      validate:
        message: "images come from registry.acme.io"
        foreach:
          - list: "request.object.spec.containers"
            deny:
              conditions:
                any:
                  - key: "{{ element.image }}"
                    operator: NotEquals
                    value: "registry.acme.io/*"
    - name: no-nodeport
      match:
        any:
          - resources: {kinds: [Service]}
      validate:
        message: "Services of type {{ request.object.spec.type }} are not allowed"
        deny:
          conditions:
            any:
              - key: "{{ request.object.spec.type }}"
                operator: AnyIn
                value: [NodePort, LoadBalancer]
---
apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {tier: prod}}
---
apiVersion: v1
kind: Namespace
metadata: {name: lab, labels: {tier: lab}}
---
apiVersion: v1
kind: Namespace
metadata: {name: dev}
---
apiVersion: v1
kind: Pod
metadata: {name: good, namespace: shop}
spec: {containers: [{name: a, image: registry.acme.io/a:1}]}
---
apiVersion: v1
kind: Pod
metadata: {name: bad, namespace: shop}
spec: {containers: [{name: a, image: registry.acme.io/a:1}, {name: b, image: docker.io/b:1}]}
---
apiVersion: v1
kind: Pod
metadata: {name: debug-1, namespace: shop}
spec: {containers: [{name: a, image: docker.io/busybox:1}]}
---
apiVersion: v1
kind: Pod
metadata: {name: marked, namespace: shop, labels: {acme.io/exempt: "true"}}
spec: {containers: [{name: a, image: docker.io/busybox:1}]}
---
apiVersion: v1
kind: Pod
metadata: {name: lab-pod, namespace: lab}
spec: {containers: [{name: a, image: docker.io/busybox:1}]}
---
apiVersion: v1
kind: Pod
metadata: {name: dev-pod, namespace: dev}
spec: {containers: [{name: a, image: docker.io/busybox:1}]}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec: {type: NodePort, ports: [{port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: internal, namespace: shop}
spec: {type: ClusterIP, ports: [{port: 80}]}
"#;

#[test]
fn kyverno_deny_foreach_preconditions_and_overrides() {
    let (results, diags) = review(REGISTRIES);
    assert_eq!(
        verdicts(&results),
        vec![
            (
                "bad".to_string(),
                "trusted-registry".to_string(),
                Outcome::Fail
            ),
            (
                "lab-pod".to_string(),
                "trusted-registry".to_string(),
                Outcome::Fail
            ),
            ("web".to_string(), "no-nodeport".to_string(), Outcome::Fail),
        ]
    );
    for ok in ["good", "internal"] {
        assert!(passes(&results, ok), "{ok}");
    }
    for unmatched in ["debug-1", "marked", "dev-pod"] {
        assert!(
            !results.iter().any(|r| r.object.name == unmatched),
            "{unmatched}"
        );
    }
    // The lab namespace only audits.
    let lab = diags
        .items
        .iter()
        .find(|d| d.message.contains("lab/lab-pod"))
        .expect("lab");
    assert_eq!(lab.code, crate::diag::Code::AdmissionWarning);
    let web = diags
        .items
        .iter()
        .find(|d| d.message.contains("shop/web"))
        .expect("web");
    assert!(
        web.message
            .contains("Services of type NodePort are not allowed"),
        "{}",
        web.message
    );
}

#[test]
fn kyverno_exceptions_expire() {
    let exception = |ttl: &str| {
        format!(
            "---\napiVersion: kyverno.io/v2\nkind: PolicyException\nmetadata:\n  name: legacy\n  namespace: shop\n  labels: {{cleanup.kyverno.io/ttl: '{ttl}'}}\nspec:\n  exceptions:\n    - {{policyName: no-latest, ruleNames: [pinned-tag, autogen-pinned-tag]}}\n  match:\n    any:\n      - resources: {{kinds: [Pod, Deployment], namespaces: [shop], names: [legacy-*]}}\n"
        )
    };
    let policy = NO_LATEST.replace("ANNOTATIONS", "annotations: {}");
    let objects = [
        workload("Pod", "legacy-pod", "r.io/a:latest"),
        workload("Pod", "new-pod", "r.io/a:latest"),
    ]
    .concat();
    // Valid through 2027-03-31 (fleetc's today is 2026-12-04 here).
    let (results, _) = review(&format!("{policy}{objects}{}", exception("2027-03-31")));
    let legacy = results
        .iter()
        .find(|r| r.object.name == "legacy-pod")
        .expect("legacy");
    assert_eq!(legacy.finding.outcome, Outcome::Skip);
    assert!(legacy
        .finding
        .message
        .contains("PolicyException shop/legacy"));
    assert_eq!(
        verdicts(&results)
            .iter()
            .filter(|v| v.2 == Outcome::Fail)
            .count(),
        1
    );
    // Expired on 2026-11-30: it no longer exempts.
    let (results, _) = review(&format!("{policy}{objects}{}", exception("2026-11-30")));
    assert_eq!(
        verdicts(&results)
            .iter()
            .filter(|v| v.2 == Outcome::Fail)
            .count(),
        2
    );
}

/// Pod Security, CEL, a rule about who applies, a mutate rule and a rule
/// whose JMESPath calls a function Kyverno does not have.
const MIXED: &str = r#"
apiVersion: kyverno.io/v1
kind: ClusterPolicy
metadata: {name: psa}
spec:
  validationFailureAction: Audit
  rules:
    - name: baseline
      match:
        any:
          - resources: {kinds: [Pod]}
      validate:
        podSecurity:
          level: baseline
          version: latest
          exclude:
            - {controlName: Host Ports, images: ["registry.acme.io/gateway*"]}
    - name: replicas
      match:
        any:
          - resources: {kinds: [Deployment]}
      validate:
        cel:
          expressions:
            - expression: "object.spec.replicas >= 2"
              message: "at least two replicas"
    - name: who
      match:
        any:
          - resources: {kinds: [Pod]}
      validate:
        deny:
          conditions:
            any:
              - {key: "{{ request.userInfo.username }}", operator: Equals, value: "admin"}
    - name: add-label
      match:
        any:
          - resources: {kinds: [Pod]}
      mutate:
        patchStrategicMerge: {metadata: {labels: {x: y}}}
    - name: broken
      match:
        any:
          - resources: {kinds: [Service]}
      validate:
        deny:
          conditions:
            any:
              - {key: "{{ no_such_function(request.object.metadata.name) }}", operator: Equals, value: x}
---
apiVersion: v1
kind: Pod
metadata: {name: host, namespace: shop}
spec: {hostNetwork: true, containers: [{name: a, image: r.io/a:1}]}
---
apiVersion: v1
kind: Pod
metadata: {name: gateway, namespace: shop}
spec: {containers: [{name: a, image: registry.acme.io/gateway:1, ports: [{containerPort: 80, hostPort: 80}]}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: single, namespace: shop}
spec: {replicas: 1, selector: {matchLabels: {a: b}}, template: {metadata: {labels: {a: b}}, spec: {containers: [{name: a, image: r.io/a:1}]}}}
---
apiVersion: v1
kind: Service
metadata: {name: svc, namespace: shop}
spec: {ports: [{port: 80}]}
"#;

#[test]
fn kyverno_pod_security_cel_skips_and_errors() {
    let yaml = MIXED;
    let (results, diags) = review(yaml);
    let of = |name: &str, rule: &str| {
        results
            .iter()
            .find(|r| r.object.name == name && r.finding.rule == rule)
            .map(|r| r.finding.outcome)
    };
    assert_eq!(of("host", "baseline"), Some(Outcome::Fail));
    assert_eq!(of("gateway", "baseline"), Some(Outcome::Pass));
    assert_eq!(of("single", "replicas"), Some(Outcome::Fail));
    assert_eq!(of("host", "who"), Some(Outcome::Skip));
    assert_eq!(of("host", "add-label"), Some(Outcome::Skip));
    assert_eq!(of("svc", "broken"), Some(Outcome::Error));
    // Audit: violations warn; the evaluation error is still an error.
    assert!(diags
        .items
        .iter()
        .any(|d| d.code == crate::diag::Code::AdmissionError && d.is_error()));
    assert!(diags
        .items
        .iter()
        .filter(|d| d.code == crate::diag::Code::AdmissionWarning)
        .any(|d| d.message.contains("Host Namespaces")));
}

/// `request` and `namespaceObject` are built for the expressions that
/// name them (and only then).
#[test]
fn vap_reads_request_and_namespace_object() {
    let yaml = r#"
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: prod-namespaces}
spec:
  failurePolicy: Fail
  matchConstraints:
    resourceRules:
      - {apiGroups: [""], apiVersions: [v1], operations: [CREATE], resources: [configmaps]}
  validations:
    - expression: "request.operation == 'CREATE' && request.namespace == object.metadata.namespace"
    - expression: "namespaceObject.metadata.labels.tier == 'prod'"
      messageExpression: "'namespace ' + namespaceObject.metadata.name + ' is not prod'"
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {name: prod-namespaces}
spec:
  policyName: prod-namespaces
  validationActions: [Deny]
---
apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {tier: prod}}
---
apiVersion: v1
kind: Namespace
metadata: {name: lab, labels: {tier: lab}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: in-shop, namespace: shop}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: in-lab, namespace: lab}
"#;
    let (results, _) = review(yaml);
    assert!(passes(&results, "in-shop"), "{results:#?}");
    let lab: Vec<_> = results
        .iter()
        .filter(|r| r.object.name == "in-lab")
        .collect();
    assert_eq!(lab.len(), 2);
    assert_eq!(lab[0].finding.outcome, Outcome::Pass);
    assert_eq!(lab[1].finding.outcome, Outcome::Fail);
    assert_eq!(lab[1].finding.message, "namespace lab is not prod");
}

/// A template with CEL (`K8sNativeValidation`) and Rego: the CEL runs, as
/// in Gatekeeper 3.18 and later, with `variables.params` and
/// `variables.anyObject`; its findings are the constraint's.
const OWNER_CEL: &str = r#"
apiVersion: templates.gatekeeper.sh/v1
kind: ConstraintTemplate
metadata: {name: k8sownerlabel}
spec:
  crd:
    spec:
      names: {kind: K8sOwnerLabel}
      validation:
        openAPIV3Schema:
          type: object
          properties:
            keys: {type: array, items: {type: string}}
            pattern: {type: string}
  targets:
    - target: admission.k8s.gatekeeper.sh
      code:
        - engine: K8sNativeValidation
          source:
            variables:
              - name: labels
                expression: "has(variables.anyObject.metadata.labels) ? variables.anyObject.metadata.labels : {}"
            validations:
              - expression: "variables.params.keys.all(k, k in variables.labels)"
                messageExpression: "'needs labels: ' + variables.params.keys.filter(k, !(k in variables.labels)).join(', ')"
              - expression: "variables.params.keys.all(k, !(k in variables.labels) || variables.labels[k].matches(variables.params.pattern))"
                message: "a label value does not match the pattern"
        - engine: Rego
          source:
            rego: |
              package k8sownerlabel
              violation[{"msg": "the Rego ran"}] { false }
---
apiVersion: constraints.gatekeeper.sh/v1beta1
kind: K8sOwnerLabel
metadata: {name: owners}
spec:
  enforcementAction: ENFORCEMENT
  match:
    kinds: [{apiGroups: [""], kinds: [ConfigMap]}]
  parameters:
    keys: [owner, tier]
    pattern: "^[a-z-]+$"
---
apiVersion: v1
kind: ConfigMap
metadata: {name: good, namespace: shop, labels: {owner: team-a, tier: web}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: unowned, namespace: shop, labels: {tier: web}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: shouting, namespace: shop, labels: {owner: TEAM, tier: web}}
"#;

#[test]
fn gatekeeper_cel_runs_instead_of_rego() {
    let (results, d) = review(&OWNER_CEL.replace("ENFORCEMENT", "deny"));
    assert!(passes(&results, "good"), "{results:#?}");
    let unowned: Vec<_> = results
        .iter()
        .filter(|r| r.object.name == "unowned")
        .collect();
    assert_eq!(unowned.len(), 1, "{unowned:#?}");
    let f = &unowned[0].finding;
    assert_eq!(
        (f.outcome, f.rule.as_str(), f.policy.as_str()),
        (Outcome::Fail, "K8sOwnerLabel", "owners")
    );
    assert_eq!(f.message, "needs labels: owner");
    assert!(f.enforce);
    let shouting: Vec<_> = results
        .iter()
        .filter(|r| r.object.name == "shouting")
        .collect();
    assert_eq!(
        shouting[0].finding.message,
        "a label value does not match the pattern"
    );
    assert!(!results
        .iter()
        .any(|r| r.finding.message.contains("the Rego ran")));
    assert_eq!(d.error_count(), 2);
    // In dryrun the same findings are warnings.
    let (_, d) = review(&OWNER_CEL.replace("ENFORCEMENT", "dryrun"));
    assert_eq!(d.error_count(), 0);
    assert!(
        d.items
            .iter()
            .filter(|x| x.code == crate::diag::Code::AdmissionWarning)
            .count()
            == 2
    );
}

#[test]
fn gatekeeper_cel_errors_follow_failure_policy() {
    let broken = OWNER_CEL.replace("ENFORCEMENT", "deny").replace(
        "variables.params.keys.all(k, k in variables.labels)",
        "variables.params.missing.all(k, true)",
    );
    let (results, _) = review(&broken);
    let good = results
        .iter()
        .find(|r| r.object.name == "good")
        .expect("a result");
    assert_eq!(good.finding.outcome, Outcome::Error, "{good:#?}");
    let ignored = broken.replace(
        "          source:\n            variables:",
        "          source:\n            failurePolicy: Ignore\n            variables:",
    );
    let (results, d) = review(&ignored);
    let good = results
        .iter()
        .find(|r| r.object.name == "good")
        .expect("a result");
    assert_eq!(good.finding.outcome, Outcome::Ignored);
    assert!(d
        .items
        .iter()
        .all(|x| x.code != crate::diag::Code::AdmissionError || !x.is_error()));
}

/// Kyverno `apiCall` context entries, answered from the objects rendered
/// on the cluster: a list with `jmesPath`, one object with a `default`,
/// and what needs the live cluster (a service, a query) skipped.
const QUOTA_CALL: &str = r#"
apiVersion: kyverno.io/v1
kind: ClusterPolicy
metadata: {name: quota-first}
spec:
  validationFailureAction: Enforce
  rules:
    - name: namespace-has-quota
      match:
        any:
          - resources: {kinds: [Deployment]}
      context:
        - name: quotas
          apiCall:
            urlPath: "/api/v1/namespaces/{{ request.namespace }}/resourcequotas"
            jmesPath: "items | length(@)"
        - name: team
          apiCall:
            urlPath: "/api/v1/namespaces/{{ request.namespace }}/configmaps/team"
            jmesPath: "data.owner"
            default: nobody
      validate:
        message: "namespace {{ request.namespace }} has no ResourceQuota (owner {{ team }})"
        deny:
          conditions:
            any:
              - {key: "{{ quotas }}", operator: Equals, value: 0}
    - name: remote
      match:
        any:
          - resources: {kinds: [Deployment]}
      context:
        - name: verdict
          apiCall:
            service: {url: "https://checker.example.com/check"}
      validate:
        deny:
          conditions:
            any:
              - {key: "{{ verdict }}", operator: Equals, value: "no"}
---
apiVersion: v1
kind: ResourceQuota
metadata: {name: compute, namespace: shop}
spec: {hard: {pods: "10"}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: team, namespace: lab}
data: {owner: research}
"#;

#[test]
fn kyverno_api_calls_read_the_cluster() {
    let yaml = format!(
        "{QUOTA_CALL}{}{}",
        deployment("web", "shop", 1),
        deployment("trial", "lab", 1)
    );
    let (results, _) = review(&yaml);
    let rule = |name: &str, rule: &str| {
        results
            .iter()
            .find(|r| r.object.name == name && r.finding.rule == rule)
            .map(|r| (r.finding.outcome, r.finding.message.clone()))
            .expect("a result")
    };
    assert_eq!(rule("web", "namespace-has-quota").0, Outcome::Pass);
    assert_eq!(
        rule("trial", "namespace-has-quota"),
        (
            Outcome::Fail,
            "namespace lab has no ResourceQuota (owner research) (the deny conditions hold)".into()
        )
    );
    let (outcome, why) = rule("web", "remote");
    assert_eq!(outcome, Outcome::Skip);
    assert!(why.contains("external service"), "{why}");
}

/// Kyverno's CEL `resource.List` and `resource.Get`, answered from the
/// objects rendered on the cluster.
#[test]
fn kyverno_resource_library_reads_the_cluster() {
    let policy = r#"
apiVersion: policies.kyverno.io/v1
kind: ValidatingPolicy
metadata: {name: quota-and-owner}
spec:
  validationActions: [Deny]
  matchConstraints:
    resourceRules:
      - {apiGroups: [apps], apiVersions: [v1], operations: [CREATE], resources: [deployments]}
  validations:
    - expression: "resource.List('v1', 'resourcequotas', object.metadata.namespace).items.size() > 0"
      messageExpression: "'no ResourceQuota in ' + object.metadata.namespace"
    - expression: "resource.Get('v1', 'configmaps', object.metadata.namespace, 'team').data.owner != ''"
---
apiVersion: v1
kind: ResourceQuota
metadata: {name: compute, namespace: shop}
spec: {hard: {pods: "10"}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: team, namespace: shop}
data: {owner: shop-team}
"#;
    let yaml = format!(
        "{policy}{}{}",
        deployment("web", "shop", 1),
        deployment("trial", "lab", 1)
    );
    let (results, _) = review(&yaml);
    assert!(passes(&results, "web"), "{results:#?}");
    let trial: Vec<_> = results
        .iter()
        .filter(|r| r.object.name == "trial")
        .map(|r| {
            (
                r.finding.rule.as_str(),
                r.finding.outcome,
                r.finding.message.as_str(),
            )
        })
        .collect();
    assert_eq!(trial[0], ("0", Outcome::Fail, "no ResourceQuota in lab"));
    assert_eq!(trial[1].1, Outcome::Error);
    assert!(trial[1].2.contains("team not found"), "{trial:?}");
}

/// A Rego range whose bound comes from the parameters or the object is
/// never built (regorus would build it whole, before any budget); one
/// between small literals runs.
#[test]
fn gatekeeper_ranges_are_bounded() {
    let template = |body: &str| {
        format!(
            r#"
apiVersion: templates.gatekeeper.sh/v1
kind: ConstraintTemplate
metadata: {{name: k8sranges}}
spec:
  crd:
    spec:
      names: {{kind: K8sRanges}}
  targets:
    - target: admission.k8s.gatekeeper.sh
      rego: |
        package k8sranges
        violation[{{"msg": "too many"}}] {{
          {body}
        }}
---
apiVersion: constraints.gatekeeper.sh/v1beta1
kind: K8sRanges
metadata: {{name: ranges}}
spec:
  enforcementAction: deny
  match:
    kinds: [{{apiGroups: [""], kinds: [ConfigMap]}}]
  parameters: {{n: 1000000000000}}
---
apiVersion: v1
kind: ConfigMap
metadata: {{name: cm, namespace: shop}}
"#
        )
    };
    let (results, d) = review(&template("count(numbers.range(0, input.parameters.n)) > 5"));
    assert_eq!(results[0].finding.outcome, Outcome::Budget, "{results:#?}");
    assert!(results[0].finding.message.contains("numbers.range"));
    assert!(d
        .items
        .iter()
        .any(|x| x.code == crate::diag::Code::AdmissionBudget));
    let (results, _) = review(&template("count(numbers.range(0, 9)) > 5"));
    assert_eq!(results[0].finding.outcome, Outcome::Fail);
    let (results, _) = review(&template("count(numbers.range_step(0, 10000000, 1)) > 5"));
    assert_eq!(results[0].finding.outcome, Outcome::Budget);
}
