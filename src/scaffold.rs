//! `fleetc init`: the files of a new, minimal fleet that validates and
//! renders as written — one group, two clusters, one component with a
//! template and its namespace, one placement — with the editor schemas,
//! a pre-commit configuration and a CI workflow. The command writes them
//! (src/cli/init.rs); this module only says what they are.

/// The schemas saved into the fleet, for the editor comment of each file
/// (docs/fleet-repository.md, "editor support"): (kind, file name).
const SCHEMAS: &[(&str, &str)] = &[
    ("Fleet", "fleet.schema.json"),
    ("Cluster", "cluster.schema.json"),
    ("ClusterGroup", "clustergroup.schema.json"),
    ("Component", "component.schema.json"),
    ("Policy", "policy.schema.json"),
    ("Placement", "placement.schema.json"),
];

/// The CI workflow, the same file as `examples/ci/github/fleetc.yml`.
const WORKFLOW: &str = include_str!("../examples/ci/github/fleetc.yml");

/// The name a fleet gets from its directory's name: lower case, with
/// anything but letters and digits made a `-` (a DNS label, as every
/// fleet name must be); `fleet` when nothing is left.
pub fn fleet_name(dir_name: &str) -> String {
    dns_label(dir_name, "fleet")
}

/// A DNS-1123 label made from `s`: lower case, any run of other
/// characters one `-`, at most 63 characters; `fallback` when nothing is
/// left.
pub fn dns_label(s: &str, fallback: &str) -> String {
    let mut name = String::new();
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            name.push(c.to_ascii_lowercase());
        } else if !name.ends_with('-') {
            name.push('-');
        }
    }
    let name: String = name.trim_matches('-').chars().take(63).collect();
    let name = name.trim_end_matches('-');
    if name.is_empty() {
        fallback.to_string()
    } else {
        name.to_string()
    }
}

/// Every file of the new fleet `name`: (path relative to its root, text).
pub fn files(name: &str) -> Vec<(String, String)> {
    let mut out = vec![
        ("fleet.yaml".to_string(), fleet(name)),
        (
            "groups/production.yaml".to_string(),
            with_schema("clustergroup", 1, GROUP),
        ),
        (
            "clusters/dev-1.yaml".to_string(),
            with_schema("cluster", 1, &cluster("dev-1", "dev", "eu-west-1")),
        ),
        (
            "clusters/prod-1.yaml".to_string(),
            with_schema("cluster", 1, &cluster("prod-1", "prod", "eu-west-1")),
        ),
        (
            "components/hello/component.yaml".to_string(),
            with_schema("component", 2, COMPONENT),
        ),
        (
            "components/hello/templates/hello.yaml.j2".to_string(),
            TEMPLATE.to_string(),
        ),
        (
            "placements/hello.yaml".to_string(),
            with_schema("placement", 1, PLACEMENT),
        ),
        (
            ".pre-commit-config.yaml".to_string(),
            PRE_COMMIT.to_string(),
        ),
        (
            ".github/workflows/fleetc.yml".to_string(),
            WORKFLOW.to_string(),
        ),
        (".gitignore".to_string(), "/rendered/\n".to_string()),
    ];
    out.extend(schema_files());
    out
}

/// The editor schemas a new fleet keeps under `schemas/`: (path, text).
pub fn schema_files() -> Vec<(String, String)> {
    SCHEMAS
        .iter()
        .map(|(kind, file)| {
            let schema = crate::schema::bundled(kind)
                .map(|s| serde_json::to_string_pretty(&s).unwrap_or_default() + "\n")
                .unwrap_or_default();
            (format!("schemas/{file}"), schema)
        })
        .collect()
}

/// What to do next, printed after the files are written (`dir` as the
/// user named it).
pub fn next_steps(dir: &str) -> String {
    let cd = if dir == "." {
        String::new()
    } else {
        format!("  cd {dir}\n")
    };
    format!(
        "next steps:\n{cd}  fleetc validate                 # every check, nothing written\n  fleetc render -o rendered       # the per-cluster tree (flux; --format argocd|plain)\n  fleetc explain prod-1           # why each group, placement and value applies\n\nthen edit spec.output.repository in fleet.yaml (the git URL the agents read the\nrendered branch from), add your clusters under clusters/, and your apps under\ncomponents/ with a placement each. Install the hooks with `pre-commit install`;\n.github/workflows/fleetc.yml publishes the rendered branch and comments diffs.\n"
    )
}

/// `body` with the editor comment naming its kind's schema, for a file
/// `depth` directories below the fleet's root.
pub fn with_schema(schema: &str, depth: usize, body: &str) -> String {
    format!(
        "# yaml-language-server: $schema={}schemas/{schema}.schema.json\n{body}",
        "../".repeat(depth)
    )
}

fn fleet(name: &str) -> String {
    format!(
        "# yaml-language-server: $schema=schemas/fleet.schema.json
apiVersion: fleetc.dev/v1alpha1
kind: Fleet
metadata:
  name: {name}
spec:
  output:
    # The agent on each cluster (flux or argocd), and where it reads the
    # rendered tree: the branch `fleetc publish` commits it onto.
    format: flux
    repository: https://git.example.com/platform/{name}.git
    branch: rendered
    interval: 5m
  # Values every template reads as `vars.*`.
  vars:
    registry: docker.io
"
    )
}

fn cluster(name: &str, env: &str, region: &str) -> String {
    format!(
        "apiVersion: fleetc.dev/v1alpha1
kind: Cluster
metadata:
  name: {name}
  labels:
    env: {env}
    region: {region}
spec:
  owner: team-platform
  kubernetesVersion: \"1.31.0\"
  # The API endpoint Argo CD knows the cluster by (--format argocd).
  server: https://{name}.k8s.example.com:6443
"
    )
}

const GROUP: &str = "apiVersion: fleetc.dev/v1alpha1
kind: ClusterGroup
metadata:
  name: production
spec:
  # Every cluster labelled env=prod is in this group.
  selector:
    matchLabels: {env: prod}
";

const COMPONENT: &str = "apiVersion: fleetc.dev/v1alpha1
kind: Component
metadata:
  name: hello
spec:
  # fleetc creates this namespace on every cluster the component goes to.
  namespace: hello
  version: 1.0.0
  # The defaults; groups, clusters and placement targets override them.
  values:
    replicas: 1
    message: hello from fleetc
";

const TEMPLATE: &str = "apiVersion: v1
kind: ConfigMap
metadata:
  name: hello
data:
  cluster: {{ cluster.name }}
  message: {{ values.message | quote }}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: hello
spec:
  replicas: {{ values.replicas }}
  selector:
    matchLabels: {app: hello}
  template:
    metadata:
      labels: {app: hello}
    spec:
      securityContext:
        runAsNonRoot: true
        seccompProfile: {type: RuntimeDefault}
      containers:
        - name: hello
          image: {{ vars.registry }}/nginxinc/nginx-unprivileged:1.27
          ports:
            - {name: http, containerPort: 8080}
          envFrom:
            - configMapRef: {name: hello}
          resources:
            requests: {cpu: 10m, memory: 32Mi}
            limits: {memory: 64Mi}
          securityContext:
            allowPrivilegeEscalation: false
            capabilities: {drop: [ALL]}
";

const PLACEMENT: &str = "apiVersion: fleetc.dev/v1alpha1
kind: Placement
metadata:
  name: hello
spec:
  component: hello
  target: {all: true}
  # Targets apply in order, each one's values over the ones before.
  targets:
    - name: production
      target: {groups: [production]}
      values: {replicas: 2}
";

const PRE_COMMIT: &str =
    "# pre-commit (https://pre-commit.com): `pre-commit install` once, then every
# commit is checked. The hooks run the fleetc on PATH.
repos:
  - repo: local
    hooks:
      - id: fleetc-validate
        name: fleetc validate
        entry: fleetc validate
        language: system
        pass_filenames: false
        files: ^(fleet\\.yaml|(clusters|groups|components|policies|placements|crds|patches)/)
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_from_directories() {
        assert_eq!(fleet_name("my-fleet"), "my-fleet");
        assert_eq!(fleet_name("Platform Fleet_2"), "platform-fleet-2");
        assert_eq!(fleet_name("..."), "fleet");
        assert_eq!(fleet_name(&"a".repeat(80)).len(), 63);
    }

    #[test]
    fn every_schema_is_written() {
        let f = files("acme");
        for (_, file) in SCHEMAS {
            let text = &f
                .iter()
                .find(|(p, _)| p.ends_with(file))
                .expect("written")
                .1;
            assert!(text.starts_with('{'), "{file} is a schema");
        }
    }
}
