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
    let src = Source::new("cluster.yaml", yaml);
    let docs = parse_documents(&src, &Budget::default()).expect("yaml");
    let resources = docs.into_iter().map(resource).collect();
    let rc = RenderedCluster {
        name: "c1".into(),
        units: vec![RenderedUnit {
            unit: 0,
            name: "u".into(),
            kind: UnitKind::Component,
            placement: None,
            version: None,
            mode: None,
            wave: None,
            patches: Vec::new(),
            resources,
            sops: Vec::new(),
        }],
    };
    let a = Admission::new(Format::Plain, budget);
    let mut d = Diags::default();
    a.cluster(&Repo::default(), &rc, &mut d);
    (a.results(), d)
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
    results
        .iter()
        .filter(|r| r.finding.outcome != Outcome::Pass)
        .map(|r| {
            (
                r.object.name.clone(),
                r.finding.rule.clone(),
                r.finding.outcome,
            )
        })
        .collect()
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
