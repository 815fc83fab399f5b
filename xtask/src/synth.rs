//! Synthetic fleets for the benchmark: N clusters × M components × R
//! resources in fleetc's format, and the kustomize repository (bases, one
//! overlay per environment, one overlay per cluster) that builds to the same
//! objects. Deterministic: the same sizes give the same bytes.
//!
//! Values flow the same way in both: component defaults (base), environment
//! values (group values / env overlay patches), per-cluster vars (cluster
//! overlay patches), one placement patch on every Deployment (a base patch),
//! fleetc's labels (kustomize `labels`, selectors untouched) and source
//! annotation (written into the bases).

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Files of a generated repository: relative path → content.
pub type Files = BTreeMap<String, String>;

pub const ENVS: [&str; 3] = ["dev", "staging", "prod"];
const REGIONS: [&str; 4] = ["us-east-1", "eu-west-1", "ap-south-1", "sa-east-1"];
/// Resource kinds in generation order; R takes a prefix.
pub const KINDS: [&str; 8] = [
    "Deployment",
    "Service",
    "ConfigMap",
    "ServiceAccount",
    "Role",
    "RoleBinding",
    "NetworkPolicy",
    "HorizontalPodAutoscaler",
];

#[derive(Clone, Copy, Debug)]
pub struct Size {
    pub clusters: usize,
    pub components: usize,
    pub resources: usize,
}

/// Per-environment values of component `m`: (logLevel, cpu, memory, maxReplicas).
fn env_values(env: &str, m: usize) -> (&'static str, String, String, usize) {
    match env {
        "dev" => ("debug", "50m".into(), "64Mi".into(), 2),
        "staging" => (
            "info",
            format!("{}m", 100 + 10 * (m % 5)),
            "128Mi".into(),
            4,
        ),
        _ => (
            "warn",
            format!("{}m", 250 + 25 * (m % 4)),
            format!("{}Mi", 256 + 64 * (m % 3)),
            10,
        ),
    }
}

pub fn cluster_name(i: usize) -> String {
    format!("c{i:05}")
}

pub fn env_of(i: usize) -> &'static str {
    ENVS[i % ENVS.len()]
}

fn replicas_of(i: usize) -> usize {
    1 + i % 4
}

fn comp(m: usize) -> String {
    format!("app-{m:02}")
}

/// The manifests of component `m`, as a Jinja template (`jinja`) or as the
/// kustomize base (component defaults, no cluster or environment values).
fn manifests(m: usize, r: usize, jinja: bool) -> String {
    let name = comp(m);
    let v = |expr: &str, base: &str| -> String {
        if jinja {
            format!("{{{{ {expr} }}}}")
        } else {
            base.to_string()
        }
    };
    let replicas = v("vars.replicas", "1");
    let log = v("values.logLevel", "info");
    let cpu = v("values.cpu | quote", "\"100m\"");
    let mem = v("values.memory | quote", "\"128Mi\"");
    let max = v("values.maxReplicas", "3");
    let cluster = v("cluster.name", "unset");
    let region = v("cluster.labels.region", "unset");
    let mut docs = Vec::new();
    // fleetc writes the source annotation itself; the kustomize base carries it.
    let source = if jinja {
        String::new()
    } else {
        format!("    fleetc.dev/source: components/{name}/templates/app.yaml.j2\n")
    };
    let annotations = if jinja {
        String::new()
    } else {
        format!("  annotations:\n{source}")
    };
    let labels = format!(
        "    app.kubernetes.io/name: {name}\n    app.kubernetes.io/part-of: synthetic-fleet\n    app.kubernetes.io/version: \"1.{m}.0\"\n    team: team-{}\n",
        m % 7
    );
    for kind in KINDS.iter().take(r) {
        let doc = match *kind {
            "Deployment" => format!(
                "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\n  labels:\n{labels}  annotations:\n    example.com/owner: team-{t}\n    example.com/runbook: https://runbooks.example.com/{name}\n{source}spec:\n  replicas: {replicas}\n  revisionHistoryLimit: 5\n  selector:\n    matchLabels:\n      app.kubernetes.io/name: {name}\n  template:\n    metadata:\n      labels:\n        app.kubernetes.io/name: {name}\n    spec:\n      serviceAccountName: {name}\n      securityContext:\n        runAsNonRoot: true\n        seccompProfile:\n          type: RuntimeDefault\n      containers:\n      - name: app\n        image: registry.example.com/{name}:1.{m}.0\n        args:\n        - --log-level={log}\n        - --listen=:8080\n        ports:\n        - name: http\n          containerPort: 8080\n        env:\n        - name: LOG_LEVEL\n          value: {log}\n        - name: CLUSTER\n          value: {cluster}\n        resources:\n          requests:\n            cpu: {cpu}\n            memory: {mem}\n          limits:\n            memory: {mem}\n        readinessProbe:\n          httpGet:\n            path: /healthz\n            port: http\n        securityContext:\n          allowPrivilegeEscalation: false\n          capabilities:\n            drop:\n            - ALL\n",
                t = m % 7
            ),
            "Service" => format!(
                "apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\n  labels:\n{labels}{annotations}spec:\n  type: ClusterIP\n  selector:\n    app.kubernetes.io/name: {name}\n  ports:\n  - name: http\n    port: 80\n    targetPort: http\n    protocol: TCP\n"
            ),
            "ConfigMap" => format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}-config\n  labels:\n{labels}{annotations}data:\n  cluster: {cluster}\n  region: {region}\n  log-level: {log}\n  settings.yaml: |\n    server:\n      port: 8080\n      timeout: 30s\n    features:\n      cache: true\n      tracing: false\n"
            ),
            "ServiceAccount" => format!(
                "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: {name}\n  labels:\n{labels}{annotations}automountServiceAccountToken: false\n"
            ),
            "Role" => format!(
                "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: {name}\n  labels:\n{labels}{annotations}rules:\n- apiGroups:\n  - \"\"\n  resources:\n  - configmaps\n  - secrets\n  verbs:\n  - get\n  - list\n  - watch\n"
            ),
            "RoleBinding" => format!(
                "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata:\n  name: {name}\n  labels:\n{labels}{annotations}roleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: Role\n  name: {name}\nsubjects:\n- kind: ServiceAccount\n  name: {name}\n  namespace: {name}\n"
            ),
            "NetworkPolicy" => format!(
                "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: {name}\n  labels:\n{labels}{annotations}spec:\n  podSelector:\n    matchLabels:\n      app.kubernetes.io/name: {name}\n  policyTypes:\n  - Ingress\n  ingress:\n  - from:\n    - namespaceSelector:\n        matchLabels:\n          kubernetes.io/metadata.name: ingress\n    ports:\n    - port: 8080\n      protocol: TCP\n"
            ),
            _ => format!(
                "apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata:\n  name: {name}\n  labels:\n{labels}{annotations}spec:\n  scaleTargetRef:\n    apiVersion: apps/v1\n    kind: Deployment\n    name: {name}\n  minReplicas: 1\n  maxReplicas: {max}\n  metrics:\n  - type: Resource\n    resource:\n      name: cpu\n      target:\n        type: Utilization\n        averageUtilization: 75\n"
            ),
        };
        docs.push(doc);
    }
    docs.join("---\n")
}

const PATCH_ANNOTATION: &str = "example.com/placement-patched";

/// The fleet in fleetc's format. `variant` changes one group value (the
/// `prod` log level) for the diff benchmark.
pub fn fleet(size: Size, variant: bool) -> Files {
    let mut f = Files::new();
    f.insert(
        "fleet.yaml".into(),
        "apiVersion: fleetc.dev/v1alpha1\nkind: Fleet\nmetadata:\n  name: synthetic\nspec:\n  output:\n    format: plain\n  commonLabels:\n    example.com/fleet: synthetic\n".into(),
    );
    for env in ENVS {
        let mut g = format!(
            "apiVersion: fleetc.dev/v1alpha1\nkind: ClusterGroup\nmetadata:\n  name: {env}\nspec:\n  selector:\n    matchLabels:\n      env: {env}\n  values:\n"
        );
        for m in 0..size.components {
            let (mut log, cpu, mem, max) = env_values(env, m);
            if variant && env == "prod" {
                log = "error";
            }
            // maxReplicas only where a template reads it (the
            // HorizontalPodAutoscaler): a value nothing reads is a warning.
            let hpa = KINDS
                .iter()
                .take(size.resources)
                .any(|k| *k == "HorizontalPodAutoscaler");
            let max = if hpa {
                format!("\n      maxReplicas: {max}")
            } else {
                String::new()
            };
            let _ = writeln!(
                g,
                "    {}:\n      logLevel: {log}\n      cpu: {cpu}\n      memory: {mem}{max}",
                comp(m)
            );
        }
        f.insert(format!("groups/{env}.yaml"), g);
    }
    for i in 0..size.clusters {
        let c = cluster_name(i);
        f.insert(
            format!("clusters/{c}.yaml"),
            format!(
                "apiVersion: fleetc.dev/v1alpha1\nkind: Cluster\nmetadata:\n  name: {c}\n  labels:\n    env: {}\n    region: {}\nspec:\n  owner: team-{}\n  kubernetesVersion: \"1.30.{}\"\n  vars:\n    replicas: {}\n",
                env_of(i),
                REGIONS[i % REGIONS.len()],
                i % 11,
                i % 6,
                replicas_of(i)
            ),
        );
    }
    for m in 0..size.components {
        let name = comp(m);
        f.insert(
            format!("components/{name}/component.yaml"),
            format!(
                "apiVersion: fleetc.dev/v1alpha1\nkind: Component\nmetadata:\n  name: {name}\nspec:\n  namespace: {name}\n  version: 1.{m}.0\n  values:\n    logLevel: info\n    cpu: 100m\n    memory: 128Mi\n    maxReplicas: 3\n"
            ),
        );
        f.insert(
            format!("components/{name}/templates/app.yaml.j2"),
            manifests(m, size.resources, true),
        );
        f.insert(
            format!("placements/{name}.yaml"),
            format!(
                "apiVersion: fleetc.dev/v1alpha1\nkind: Placement\nmetadata:\n  name: {name}\nspec:\n  component: {name}\n  target: {{all: true}}\n  patches:\n  - target: {{kind: Deployment, name: {name}}}\n    patch:\n      spec:\n        template:\n          metadata:\n            annotations:\n              {PATCH_ANNOTATION}: \"true\"\n"
            ),
        );
    }
    f
}

/// The kustomize repository that builds to the same objects as [`fleet`]:
/// `clusters/<c>/` is what `kubectl kustomize` builds for cluster `c`.
pub fn kustomize(size: Size) -> Files {
    let mut f = Files::new();
    let has = |k: &str| KINDS.iter().take(size.resources).any(|x| *x == k);
    for m in 0..size.components {
        let name = comp(m);
        f.insert(
            format!("bases/{name}/resources.yaml"),
            manifests(m, size.resources, false),
        );
        // fleetc creates each component's namespace (issue 17); the twin's
        // base carries it, with the source annotation fleetc writes.
        f.insert(
            format!("bases/{name}/namespace.yaml"),
            format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n  annotations:\n    fleetc.dev/source: components/{name}/component.yaml\n"),
        );
        let mut k = format!(
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: {name}\nresources:\n- namespace.yaml\n- resources.yaml\n"
        );
        if has("Deployment") {
            let _ = write!(
                k,
                "patches:\n- target:\n    kind: Deployment\n    name: {name}\n  patch: |\n    apiVersion: apps/v1\n    kind: Deployment\n    metadata:\n      name: {name}\n    spec:\n      template:\n        metadata:\n          annotations:\n            {PATCH_ANNOTATION}: \"true\"\n"
            );
        }
        f.insert(format!("bases/{name}/kustomization.yaml"), k);
    }
    for env in ENVS {
        let mut k = String::from(
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n",
        );
        for m in 0..size.components {
            let _ = writeln!(k, "- ../../bases/{}", comp(m));
        }
        k.push_str("patches:\n");
        for m in 0..size.components {
            let name = comp(m);
            let (log, cpu, mem, max) = env_values(env, m);
            let mut ops = Vec::new();
            if has("Deployment") {
                ops.push(("Deployment", name.clone(), format!(
                    "- op: replace\n      path: /spec/template/spec/containers/0/args/0\n      value: --log-level={log}\n    - op: replace\n      path: /spec/template/spec/containers/0/env/0/value\n      value: {log}\n    - op: replace\n      path: /spec/template/spec/containers/0/resources/requests/cpu\n      value: \"{cpu}\"\n    - op: replace\n      path: /spec/template/spec/containers/0/resources/requests/memory\n      value: \"{mem}\"\n    - op: replace\n      path: /spec/template/spec/containers/0/resources/limits/memory\n      value: \"{mem}\""
                )));
            }
            if has("ConfigMap") {
                ops.push((
                    "ConfigMap",
                    format!("{name}-config"),
                    format!("- op: replace\n      path: /data/log-level\n      value: {log}"),
                ));
            }
            if has("HorizontalPodAutoscaler") {
                ops.push((
                    "HorizontalPodAutoscaler",
                    name.clone(),
                    format!("- op: replace\n      path: /spec/maxReplicas\n      value: {max}"),
                ));
            }
            for (kind, n, p) in ops {
                let _ = write!(
                    k,
                    "- target:\n    kind: {kind}\n    name: {n}\n    namespace: {name}\n  patch: |\n    {p}\n"
                );
            }
        }
        f.insert(format!("overlays/{env}/kustomization.yaml"), k);
    }
    for i in 0..size.clusters {
        let c = cluster_name(i);
        let mut k = format!(
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- ../../overlays/{}\nlabels:\n- pairs:\n    example.com/fleet: synthetic\n    app.kubernetes.io/managed-by: fleetc\n    fleetc.dev/cluster: {c}\n  includeSelectors: false\n",
            env_of(i)
        );
        let mut patches = Vec::new();
        if has("Deployment") {
            patches.push(format!(
                "- target:\n    kind: Deployment\n  patch: |\n    - op: replace\n      path: /spec/replicas\n      value: {}\n    - op: replace\n      path: /spec/template/spec/containers/0/env/1/value\n      value: {c}\n",
                replicas_of(i)
            ));
        }
        if has("ConfigMap") {
            patches.push(format!(
                "- target:\n    kind: ConfigMap\n  patch: |\n    - op: replace\n      path: /data/cluster\n      value: {c}\n    - op: replace\n      path: /data/region\n      value: {}\n",
                REGIONS[i % REGIONS.len()]
            ));
        }
        if !patches.is_empty() {
            k.push_str("patches:\n");
            for p in patches {
                k.push_str(&p);
            }
        }
        f.insert(format!("clusters/{c}/kustomization.yaml"), k);
    }
    f
}

/// Write `files` under `dir` (created).
pub fn write(dir: &std::path::Path, files: &Files) -> std::io::Result<()> {
    for (p, content) in files {
        let path = dir.join(p);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, content)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use fleetc::diag::Source;
    use fleetc::yaml::{parse_documents, Budget};

    fn canonical(v: &serde_json::Value) -> String {
        fn sort(v: &serde_json::Value) -> serde_json::Value {
            match v {
                serde_json::Value::Object(m) => {
                    let sorted: BTreeMap<_, _> =
                        m.iter().map(|(k, x)| (k.clone(), sort(x))).collect();
                    serde_json::to_value(sorted).expect("json")
                }
                serde_json::Value::Array(a) => {
                    serde_json::Value::Array(a.iter().map(sort).collect())
                }
                x => x.clone(),
            }
        }
        sort(v).to_string()
    }

    fn objects(name: &str, text: &str) -> Vec<String> {
        parse_documents(&Source::new(name, text), &Budget::default())
            .unwrap_or_else(|e| panic!("{name}: {}", e.message))
            .iter()
            .map(|d| canonical(&d.to_json()))
            .collect()
    }

    /// The fairness of the benchmark: the synthetic fleet and its kustomize
    /// twin build to the same objects on every cluster.
    #[test]
    fn synthetic_fleet_renders_like_its_kustomize_twin() {
        let size = Size {
            clusters: 7,
            components: 3,
            resources: KINDS.len(),
        };
        let tmp = tempfile::tempdir().expect("tempdir");
        let (fleet_dir, twin) = (tmp.path().join("fleet"), tmp.path().join("kustomize"));
        write(&fleet_dir, &fleet(size, false)).expect("write fleet");
        write(&twin, &kustomize(size)).expect("write twin");
        let fs = fleetc::source::read_dir(&fleet_dir, &Default::default()).expect("read");
        let (compiled, diags) =
            fleetc::driver::compile(&fs, &fleetc::driver::Options::new(crate::today()));
        let compiled = compiled.unwrap_or_else(|| panic!("{}", diags.render(false)));
        let kubectl = std::env::var("KUBECTL").unwrap_or_else(|_| "kubectl".into());
        let mut compared = 0;
        for i in 0..size.clusters {
            let c = cluster_name(i);
            let prefix = format!("clusters/{c}/");
            let mut ours: Vec<String> = compiled
                .tree
                .files
                .iter()
                .filter(|(p, _)| p.starts_with(&prefix) && !p.ends_with("kustomization.yaml"))
                .flat_map(|(p, b)| objects(p, &String::from_utf8_lossy(b)))
                .collect();
            let o = std::process::Command::new(&kubectl)
                .arg("kustomize")
                .arg(twin.join("clusters").join(&c))
                .output()
                .expect("kubectl (with kustomize v5) is required");
            assert!(
                o.status.success(),
                "kustomize {c}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            let mut theirs = objects("kustomize", &String::from_utf8_lossy(&o.stdout));
            ours.sort();
            theirs.sort();
            // Each component's resources and its Namespace.
            assert_eq!(ours.len(), size.components * (size.resources + 1), "{c}");
            for (a, b) in ours.iter().zip(&theirs) {
                assert_eq!(a, b, "{c}: fleetc and kustomize disagree");
            }
            assert_eq!(ours.len(), theirs.len(), "{c}");
            compared += ours.len();
        }
        assert_eq!(compared, 7 * 3 * (KINDS.len() + 1));
    }

    #[test]
    fn generation_is_deterministic_and_the_variant_changes_one_group() {
        let size = Size {
            clusters: 5,
            components: 2,
            resources: 6,
        };
        assert_eq!(fleet(size, false), fleet(size, false));
        assert_eq!(kustomize(size), kustomize(size));
        let (a, b) = (fleet(size, false), fleet(size, true));
        let differ: Vec<&String> = a.keys().filter(|k| a[*k] != b[*k]).collect();
        assert_eq!(differ, ["groups/prod.yaml"]);
    }
}
