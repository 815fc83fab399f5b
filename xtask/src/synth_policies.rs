//! The bench's admission policies: 24 policies of the three engines,
//! written like the ones of public libraries (kyverno/policies,
//! gatekeeper-library, the Kubernetes docs' ValidatingAdmissionPolicy
//! examples), for the synthetic fleet's objects. All audit, so `validate`
//! passes with the violations they find as warnings.

use crate::synth::Files;

/// One Policy unit holding `docs`, audited on every cluster.
fn unit(files: &mut Files, name: &str, engine: &str, docs: &[String]) {
    files.insert(
        format!("policies/{name}/policy.yaml"),
        format!(
            "apiVersion: fleetc.dev/v1alpha1\nkind: Policy\nmetadata:\n  name: {name}\nspec:\n  engine: {engine}\n  mode: audit\n  target: {{all: true}}\n"
        ),
    );
    files.insert(
        format!("policies/{name}/templates/policies.yaml"),
        docs.join("---\n"),
    );
}

fn kyverno(name: &str, rules: &str) -> String {
    format!(
        "apiVersion: kyverno.io/v1\nkind: ClusterPolicy\nmetadata:\n  name: {name}\nspec:\n  validationFailureAction: Audit\n  background: true\n  rules:\n{rules}"
    )
}

fn kyverno_policies() -> Vec<String> {
    vec![
        kyverno("require-labels", "  - name: name-label\n    match:\n      any:\n      - resources:\n          kinds: [Deployment, Service, ConfigMap]\n    validate:\n      message: \"app.kubernetes.io/name is required\"\n      pattern:\n        metadata:\n          labels:\n            app.kubernetes.io/name: \"?*\"\n"),
        kyverno("pinned-images", "  - name: tag\n    match:\n      any:\n      - resources:\n          kinds: [Pod]\n    validate:\n      message: \"{{ element.name }} needs a tag other than latest\"\n      foreach:\n      - list: request.object.spec.containers\n        pattern:\n          image: \"*:* & !*:latest\"\n"),
        kyverno("trusted-registry", "  - name: registry\n    match:\n      any:\n      - resources:\n          kinds: [Pod]\n    validate:\n      message: \"images come from registry.example.com\"\n      pattern:\n        spec:\n          containers:\n          - image: \"registry.example.com/*\"\n"),
        kyverno("run-as-non-root", "  - name: non-root\n    match:\n      any:\n      - resources:\n          kinds: [Pod]\n    validate:\n      message: \"runAsNonRoot is required\"\n      anyPattern:\n      - spec:\n          securityContext:\n            runAsNonRoot: true\n      - spec:\n          containers:\n          - securityContext:\n              runAsNonRoot: true\n"),
        kyverno("drop-all-capabilities", "  - name: drop-all\n    match:\n      any:\n      - resources:\n          kinds: [Pod]\n    validate:\n      message: \"containers drop ALL capabilities\"\n      foreach:\n      - list: request.object.spec.containers\n        deny:\n          conditions:\n            all:\n            - key: ALL\n              operator: AnyNotIn\n              value: \"{{ element.securityContext.capabilities.drop[] || `[]` }}\"\n"),
        kyverno("pod-security-restricted", "  - name: restricted\n    match:\n      any:\n      - resources:\n          kinds: [Pod]\n    validate:\n      podSecurity:\n        level: restricted\n        version: latest\n"),
        kyverno("service-types", "  - name: no-external\n    match:\n      any:\n      - resources:\n          kinds: [Service]\n    validate:\n      message: \"Services of type {{ request.object.spec.type }} are not allowed\"\n      deny:\n        conditions:\n          any:\n          - key: \"{{ request.object.spec.type }}\"\n            operator: AnyIn\n            value: [NodePort, LoadBalancer]\n"),
        kyverno("hpa-bounds", "  - name: max\n    match:\n      any:\n      - resources:\n          kinds: [HorizontalPodAutoscaler]\n    validate:\n      message: \"maxReplicas is between 1 and 10\"\n      pattern:\n        spec:\n          maxReplicas: \"1-10\"\n          =(minReplicas): \">=1\"\n"),
    ]
}

fn gatekeeper(kind: &str, schema: &str, rego: &str, matches: &str, parameters: &str) -> String {
    let lower = kind.to_lowercase();
    let rego: String = rego.lines().map(|l| format!("        {l}\n")).collect();
    format!(
        "apiVersion: templates.gatekeeper.sh/v1\nkind: ConstraintTemplate\nmetadata:\n  name: {lower}\nspec:\n  crd:\n    spec:\n      names:\n        kind: {kind}\n      validation:\n        openAPIV3Schema:\n          type: object\n{schema}  targets:\n  - target: admission.k8s.gatekeeper.sh\n    rego: |\n{rego}---\napiVersion: constraints.gatekeeper.sh/v1beta1\nkind: {kind}\nmetadata:\n  name: {lower}-all\nspec:\n  enforcementAction: dryrun\n  match:\n    kinds:\n{matches}  parameters:\n{parameters}"
    )
}

fn gatekeeper_policies() -> Vec<String> {
    vec![
        gatekeeper(
            "K8sRequiredLabels",
            "          properties:\n            labels:\n              type: array\n              items: {type: string}\n",
            "package k8srequiredlabels\n\nviolation[{\"msg\": msg}] {\n  provided := {l | input.review.object.metadata.labels[l]}\n  required := {l | l := input.parameters.labels[_]}\n  missing := required - provided\n  count(missing) > 0\n  msg := sprintf(\"missing labels: %v\", [missing])\n}",
            "    - apiGroups: [apps]\n      kinds: [Deployment]\n",
            "    labels: [app.kubernetes.io/name]\n",
        ),
        gatekeeper(
            "K8sAllowedRepos",
            "          properties:\n            repos:\n              type: array\n              items: {type: string}\n",
            "package k8sallowedrepos\n\nviolation[{\"msg\": msg}] {\n  c := input.review.object.spec.template.spec.containers[_]\n  not startswith_any(c.image)\n  msg := sprintf(\"container %v uses %v\", [c.name, c.image])\n}\n\nstartswith_any(image) {\n  startswith(image, input.parameters.repos[_])\n}",
            "    - apiGroups: [apps]\n      kinds: [Deployment, StatefulSet, DaemonSet]\n",
            "    repos: [\"registry.example.com/\"]\n",
        ),
        gatekeeper(
            "K8sContainerLimits",
            "          properties:\n            memory: {type: string}\n",
            "package k8scontainerlimits\n\nviolation[{\"msg\": msg}] {\n  c := input.review.object.spec.template.spec.containers[_]\n  not c.resources.limits.memory\n  msg := sprintf(\"container %v has no memory limit\", [c.name])\n}\n\nviolation[{\"msg\": msg}] {\n  c := input.review.object.spec.template.spec.containers[_]\n  units.parse_bytes(c.resources.limits.memory) > units.parse_bytes(input.parameters.memory)\n  msg := sprintf(\"container %v limit %v is over %v\", [c.name, c.resources.limits.memory, input.parameters.memory])\n}",
            "    - apiGroups: [apps]\n      kinds: [Deployment]\n",
            "    memory: 2Gi\n",
        ),
        gatekeeper(
            "K8sReplicaLimits",
            "          properties:\n            max: {type: integer}\n",
            "package k8sreplicalimits\n\nviolation[{\"msg\": msg}] {\n  r := input.review.object.spec.replicas\n  r > input.parameters.max\n  msg := sprintf(\"%v replicas, over %v\", [r, input.parameters.max])\n}",
            "    - apiGroups: [apps]\n      kinds: [Deployment]\n",
            "    max: 50\n",
        ),
        gatekeeper(
            "K8sBlockNodePort",
            "",
            "package k8sblocknodeport\n\nviolation[{\"msg\": \"NodePort Services are not allowed\"}] {\n  input.review.object.spec.type == \"NodePort\"\n}",
            "    - apiGroups: [\"\"]\n      kinds: [Service]\n",
            "    {}\n",
        ),
        gatekeeper(
            "K8sNoWildcardVerbs",
            "",
            "package k8snowildcardverbs\n\nviolation[{\"msg\": msg}] {\n  rule := input.review.object.rules[_]\n  rule.verbs[_] == \"*\"\n  msg := sprintf(\"role %v grants every verb\", [input.review.object.metadata.name])\n}",
            "    - apiGroups: [rbac.authorization.k8s.io]\n      kinds: [Role, ClusterRole]\n",
            "    {}\n",
        ),
        gatekeeper(
            "K8sIngressRestricted",
            "",
            "package k8singressrestricted\n\nviolation[{\"msg\": msg}] {\n  p := input.review.object\n  count(object.get(p.spec, \"ingress\", [])) == 0\n  msg := sprintf(\"NetworkPolicy %v admits no ingress at all\", [p.metadata.name])\n}",
            "    - apiGroups: [networking.k8s.io]\n      kinds: [NetworkPolicy]\n",
            "    {}\n",
        ),
        gatekeeper(
            "K8sConfigMapKeys",
            "          properties:\n            max: {type: integer}\n",
            "package k8sconfigmapkeys\n\nviolation[{\"msg\": msg}] {\n  n := count(object.get(input.review.object, \"data\", {}))\n  n > input.parameters.max\n  msg := sprintf(\"%v keys, over %v\", [n, input.parameters.max])\n}",
            "    - apiGroups: [\"\"]\n      kinds: [ConfigMap]\n",
            "    max: 20\n",
        ),
    ]
}

fn vap(name: &str, rules: &str, validations: &str) -> String {
    format!(
        "apiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingAdmissionPolicy\nmetadata:\n  name: {name}\nspec:\n  failurePolicy: Fail\n  matchConstraints:\n    resourceRules:\n{rules}  validations:\n{validations}---\napiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingAdmissionPolicyBinding\nmetadata:\n  name: {name}\nspec:\n  policyName: {name}\n  validationActions: [Audit]\n"
    )
}

fn vap_policies() -> Vec<String> {
    let deployments = "    - {apiGroups: [apps], apiVersions: [v1], operations: [CREATE, UPDATE], resources: [deployments]}\n";
    vec![
        vap("replica-ceiling", deployments, "  - expression: \"object.spec.replicas <= 20\"\n    messageExpression: \"'replicas ' + string(object.spec.replicas) + ' over 20'\"\n"),
        vap("no-latest", deployments, "  - expression: \"object.spec.template.spec.containers.all(c, !c.image.endsWith(':latest'))\"\n    message: an image uses latest\n"),
        vap("requests-set", deployments, "  - expression: \"object.spec.template.spec.containers.all(c, has(c.resources.requests) && 'cpu' in c.resources.requests && 'memory' in c.resources.requests)\"\n    message: every container requests cpu and memory\n"),
        vap("probes-set", deployments, "  - expression: \"object.spec.template.spec.containers.all(c, has(c.readinessProbe))\"\n    message: every container has a readinessProbe\n"),
        vap(
            "named-ports",
            "    - {apiGroups: [\"\"], apiVersions: [v1], operations: [CREATE], resources: [services]}\n",
            "  - expression: \"object.spec.ports.all(p, has(p.name) && p.name != '')\"\n    message: Service ports are named\n",
        ),
        vap(
            "no-token-automount",
            "    - {apiGroups: [\"\"], apiVersions: [v1], operations: [CREATE], resources: [serviceaccounts]}\n",
            "  - expression: \"has(object.automountServiceAccountToken) && object.automountServiceAccountToken == false\"\n    message: ServiceAccounts do not automount tokens\n",
        ),
        vap(
            "no-secret-reads",
            "    - {apiGroups: [rbac.authorization.k8s.io], apiVersions: [v1], operations: [CREATE], resources: [roles]}\n",
            "  - expression: \"!object.rules.exists(r, 'secrets' in r.resources && ('list' in r.verbs || 'watch' in r.verbs))\"\n    message: roles do not list or watch Secrets\n",
        ),
        vap(
            "configmap-cluster-key",
            "    - {apiGroups: [\"\"], apiVersions: [v1], operations: [CREATE], resources: [configmaps]}\n",
            "  - expression: \"has(object.data) && 'cluster' in object.data && object.data.cluster.size() > 0\"\n    message: ConfigMaps name their cluster\n",
        ),
    ]
}

/// Add the policies to a synthetic fleet: three Policy units (Kyverno,
/// Gatekeeper, Kubernetes), and the engines' kinds declared as installed.
pub fn add(files: &mut Files) {
    if let Some(text) = files.get_mut("fleet.yaml") {
        text.push_str("  existingKinds: [ClusterPolicy.kyverno.io, ConstraintTemplate.templates.gatekeeper.sh]\n");
    }
    unit(files, "bench-kyverno", "kyverno", &kyverno_policies());
    unit(
        files,
        "bench-gatekeeper",
        "gatekeeper",
        &gatekeeper_policies(),
    );
    unit(files, "bench-kubernetes", "kubernetes", &vap_policies());
}

/// How many policies [`add`] adds.
pub fn count() -> usize {
    kyverno_policies().len() + gatekeeper_policies().len() + vap_policies().len()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_bench_fleet_with_policies_validates() {
        let size = crate::synth::Size {
            clusters: 6,
            components: 3,
            resources: 8,
        };
        let mut files = crate::synth::fleet(size, false);
        super::add(&mut files);
        assert!(super::count() >= 20);
        let tmp = tempfile::tempdir().expect("tempdir");
        crate::synth::write(tmp.path(), &files).expect("write");
        let o = std::process::Command::new(env!("CARGO"))
            .args([
                "run",
                "-q",
                "--bin",
                "fleetc",
                "--",
                "--output-format",
                "json",
                "validate",
            ])
            .arg(tmp.path())
            .current_dir(crate::root())
            .output()
            .expect("run fleetc");
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(
            o.status.success(),
            "{out}{}",
            String::from_utf8_lossy(&o.stderr)
        );
        let d: serde_json::Value = serde_json::from_str(&out).expect("json");
        // Each engine finds something, in audit: warnings only.
        let codes: Vec<&str> = d["diagnostics"]
            .as_array()
            .expect("diagnostics")
            .iter()
            .filter_map(|x| x["code"].as_str())
            .collect();
        assert!(codes.iter().all(|c| *c == "admission-warning"), "{codes:?}");
        assert!(codes.contains(&"admission-warning"));
        // Every policy checked objects, and none errs or skips.
        let o = std::process::Command::new(env!("CARGO"))
            .args([
                "run", "-q", "--bin", "fleetc", "--", "report", "--format", "json",
            ])
            .arg(tmp.path())
            .current_dir(crate::root())
            .output()
            .expect("run fleetc report");
        let r: serde_json::Value = serde_json::from_slice(&o.stdout).expect("report json");
        let rows = r["admission"].as_array().expect("admission");
        assert_eq!(rows.len(), super::count(), "{rows:#?}");
        for row in rows {
            assert!(row["results"].as_u64() > Some(0), "{row}");
            assert_eq!(row["errors"], 0, "{row}");
            assert_eq!(row["skipped"], 0, "{row}");
        }
    }
}
