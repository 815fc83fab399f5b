//! What the GitOps agents read (SPEC §7): the Flux `Kustomization`s of each
//! cluster and its bootstrap file, or the Argo CD `Application`s of each
//! (cluster, unit) and the hub's bootstrap file.
//!
//! Every object here is built as JSON and written with the same YAML writer
//! as rendered resources; tests validate each against the official CRDs.

use crate::diag::Code;
use std::collections::BTreeMap;

use serde_json::{json, Value as Json};

use super::settings;
use crate::diag::{Diagnostic, Diags};
use crate::kube;
use crate::load::model::{Format, Repo, Unit};
use crate::render::helm::FLUX_NAMESPACE;
use crate::render::RenderedCluster;
use crate::resolve::{Resolved, ResolvedCluster, ResolvedUnit};
use crate::yaml::{Node, Value};
use settings::Part;

/// Namespace of the Argo CD control plane on the hub.
pub const ARGOCD_NAMESPACE: &str = "argocd";
/// Name of the Flux `GitRepository` of the rendered branch.
pub use crate::render::helm::FLUX_SOURCE;
/// Name of the root Flux `Kustomization` and of the root Argo CD `Application`.
pub const ROOT: &str = "fleet";
/// The in-cluster API server, as Argo CD names it.
const IN_CLUSTER: &str = "https://kubernetes.default.svc";

/// Depth of every unit in the dependsOn graph: 0 without dependencies, else
/// one more than its deepest dependency. (Cycles are validation errors; a
/// unit met again while being visited counts as 0 so this always ends.)
pub fn depths(repo: &Repo) -> Vec<usize> {
    fn visit(
        i: usize,
        repo: &Repo,
        index: &BTreeMap<&str, usize>,
        memo: &mut Vec<Option<usize>>,
        active: &mut Vec<bool>,
    ) -> usize {
        if let Some(d) = memo[i] {
            return d;
        }
        if active[i] {
            return 0;
        }
        active[i] = true;
        let mut d = 0;
        for dep in &repo.units[i].depends_on {
            if let Some(&j) = index.get(dep.name.as_str()) {
                d = d.max(visit(j, repo, index, memo, active) + 1);
            }
        }
        active[i] = false;
        memo[i] = Some(d);
        d
    }
    let index: BTreeMap<&str, usize> = repo
        .units
        .iter()
        .enumerate()
        .map(|(i, u)| (u.name.as_str(), i))
        .collect();
    let mut memo = vec![None; repo.units.len()];
    let mut active = vec![false; repo.units.len()];
    (0..repo.units.len())
        .map(|i| visit(i, repo, &index, &mut memo, &mut active))
        .collect()
}

/// `metadata` of a generated object: fleet labels, fleetc's own labels and
/// the source annotation, as on every rendered resource.
fn metadata(
    name: &str,
    namespace: &str,
    cluster: Option<&str>,
    fleet_labels: &[(String, String)],
    source: &str,
    extra_annotations: &[(&str, String)],
) -> Json {
    let mut labels = serde_json::Map::new();
    for (k, v) in fleet_labels {
        labels.insert(k.clone(), json!(v));
    }
    labels.insert("app.kubernetes.io/managed-by".into(), json!("fleetc"));
    if let Some(c) = cluster {
        labels.insert("fleetc.dev/cluster".into(), json!(c));
    }
    let mut ann = serde_json::Map::new();
    for (k, v) in extra_annotations {
        ann.insert((*k).into(), json!(v));
    }
    ann.insert("fleetc.dev/source".into(), json!(source));
    json!({ "name": name, "namespace": namespace, "labels": labels, "annotations": ann })
}

/// YAML of one generated object.
fn yaml_of(obj: &Json) -> String {
    crate::yaml::write::json_to_yaml(obj)
}

fn unit_path(cluster: &str, u: &Unit) -> String {
    format!("clusters/{cluster}/{}/{}", u.kind.dir(), u.name)
}

/// Names of the units on a cluster that another unit there depends on.
fn depended_on<'a>(repo: &'a Repo, rc: &RenderedCluster) -> Vec<&'a str> {
    let here: Vec<&str> = rc.units.iter().map(|u| u.name.as_str()).collect();
    rc.units
        .iter()
        .flat_map(|ru| repo.units[ru.unit].depends_on.iter())
        .map(|d| d.name.as_str())
        .filter(|n| here.contains(n))
        .collect()
}

/// The Flux Kustomization of unit `u` on `cluster`, before agent settings.
/// `wait`: another unit there depends on it; `sops`: it has encrypted files.
fn flux_kustomization(
    repo: &Repo,
    u: &Unit,
    cluster: &str,
    wait: bool,
    sops: bool,
    fleet_labels: &[(String, String)],
) -> Json {
    let out = repo.output();
    // Field order as people write them: ordering first, then what and where.
    let mut spec = serde_json::Map::new();
    let deps: Vec<Json> = u
        .depends_on
        .iter()
        .map(|d| json!({ "name": d.name }))
        .collect();
    if !deps.is_empty() {
        spec.insert("dependsOn".into(), json!(deps));
    }
    spec.insert("interval".into(), json!(out.interval));
    spec.insert("path".into(), json!(format!("./{}", unit_path(cluster, u))));
    spec.insert("prune".into(), json!(true));
    if wait {
        spec.insert("wait".into(), json!(true));
    }
    spec.insert(
        "sourceRef".into(),
        json!({ "kind": "GitRepository", "name": FLUX_SOURCE }),
    );
    if sops {
        let mut dec = json!({ "provider": "sops" });
        if let Some(s) = &out.sops_secret {
            dec["secretRef"] = json!({ "name": s });
        }
        spec.insert("decryption".into(), dec);
    }
    json!({
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": metadata(&u.name, FLUX_NAMESPACE, Some(cluster), fleet_labels, &u.file, &[]),
        "spec": spec,
    })
}

/// YAML of a generated object with the unit's settings for `part` laid over it.
fn yaml_with(obj: &Json, agent: Option<&Node>, part: Part) -> String {
    let mut node = Node::generated(obj);
    if let Some(setting) = settings::part_of(agent, part) {
        settings::apply(&mut node, setting);
    }
    crate::yaml::write::to_yaml(&node)
}

/// The merged agent settings of unit `unit` on a resolved cluster.
fn agent_of(res: &ResolvedCluster, unit: usize) -> Option<&Node> {
    res.units
        .iter()
        .find(|x| x.unit == unit)
        .and_then(|x| x.agent.as_ref())
}

/// `clusters/<c>/flux/`: one Kustomization per unit, plus its kustomization.yaml.
/// Returns (path relative to `flux/`, bytes).
pub fn flux_cluster(
    repo: &Repo,
    res: &ResolvedCluster,
    rc: &RenderedCluster,
    fleet_labels: &[(String, String)],
) -> Vec<(String, Vec<u8>)> {
    let needed = depended_on(repo, rc);
    let mut files = Vec::new();
    for ru in &rc.units {
        let u = &repo.units[ru.unit];
        let wait = needed.contains(&u.name.as_str());
        let obj = flux_kustomization(repo, u, &rc.name, wait, !ru.sops.is_empty(), fleet_labels);
        let yaml = yaml_with(&obj, agent_of(res, ru.unit), Part::Kustomization);
        files.push((kustomization_file(&u.name), yaml.into_bytes()));
    }
    files.sort();
    let listed: Vec<String> = files.iter().map(|(p, _)| p.clone()).collect();
    files.push(("kustomization.yaml".into(), super::kustomization(&listed)));
    files
}

/// File of a unit's Flux Kustomization, relative to `clusters/<c>/flux/`.
pub fn kustomization_file(unit: &str) -> String {
    kube::file_name(
        "kustomize.toolkit.fluxcd.io",
        "Kustomization",
        Some(FLUX_NAMESPACE),
        unit,
    )
}

/// `bootstrap/<c>.yaml`: the GitRepository of the rendered branch and the
/// root Kustomization over `clusters/<c>/flux`.
pub fn flux_bootstrap(repo: &Repo, cluster: &str, fleet_labels: &[(String, String)]) -> Vec<u8> {
    let out = repo.output();
    let source = repo
        .fleet
        .as_ref()
        .map_or("fleet.yaml", |f| f.file.as_str());
    let git = json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "GitRepository",
        "metadata": metadata(FLUX_SOURCE, FLUX_NAMESPACE, Some(cluster), fleet_labels, source, &[]),
        "spec": {
            "interval": out.interval,
            "url": out.repository.clone().unwrap_or_default(),
            "ref": { "branch": out.branch },
        },
    });
    let root = json!({
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": metadata(ROOT, FLUX_NAMESPACE, Some(cluster), fleet_labels, source, &[]),
        "spec": {
            "interval": out.interval,
            "path": format!("./clusters/{cluster}/flux"),
            "prune": true,
            "sourceRef": { "kind": "GitRepository", "name": FLUX_SOURCE },
        },
    });
    format!("{}---\n{}", yaml_of(&git), yaml_of(&root)).into_bytes()
}

/// `argocd/<c>/<x>.yaml` for every unit of a cluster: (file name, bytes).
pub fn argocd_cluster(
    repo: &Repo,
    res: &ResolvedCluster,
    rc: &RenderedCluster,
    depth: &[usize],
    fleet_labels: &[(String, String)],
) -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    for ru in &rc.units {
        let u = &repo.units[ru.unit];
        let Some(resolved) = res.units.iter().find(|x| x.unit == ru.unit) else {
            continue;
        };
        let app = Application {
            cluster: &repo.clusters[res.cluster],
            depth: depth[ru.unit],
            fleet_labels,
        };
        let obj = app.build(repo, u, resolved);
        let mut node = Node::generated(&obj);
        if let Some(setting) = settings::part_of(resolved.agent.as_ref(), Part::Application) {
            settings::apply(&mut node, setting);
            if u.namespace.is_some() {
                keep_create_namespace(&mut node);
            }
        }
        let yaml = crate::yaml::write::to_yaml(&node);
        files.push((format!("{}.yaml", u.name), yaml.into_bytes()));
    }
    files.sort();
    files
}

const CREATE_NAMESPACE: &str = "CreateNamespace=true";

/// Settings' `syncPolicy.syncOptions` replace fleetc's list; its
/// `CreateNamespace=true` is put back in front unless they say
/// `CreateNamespace=` themselves.
fn keep_create_namespace(app: &mut Node) {
    let Some(Value::Seq(options)) = app
        .as_map_mut()
        .and_then(|m| m.get_mut("spec"))
        .and_then(Node::as_map_mut)
        .and_then(|m| m.get_mut("syncPolicy"))
        .and_then(Node::as_map_mut)
        .and_then(|m| m.get_mut("syncOptions"))
        .map(|n| &mut n.v)
    else {
        return;
    };
    let says_it = options.iter().any(|o| {
        o.as_str()
            .is_some_and(|o| o.starts_with("CreateNamespace="))
    });
    if !says_it {
        options.insert(0, Node::generated(&json!(CREATE_NAMESPACE)));
    }
}

/// What an Argo CD Application needs besides its unit.
struct Application<'a> {
    cluster: &'a crate::load::model::Cluster,
    depth: usize,
    fleet_labels: &'a [(String, String)],
}

impl Application<'_> {
    /// The Application of unit `u` on the cluster, before agent settings.
    fn build(&self, repo: &Repo, u: &Unit, ru: &ResolvedUnit) -> Json {
        let out = repo.output();
        let cluster = &self.cluster.name;
        let source = match &u.helm {
            Some(h) if h.path.is_some() => {
                // A chart kept in the fleet: its copy in the rendered branch.
                let mut src = json!({
                    "repoURL": out.repository.clone().unwrap_or_default(),
                    "targetRevision": out.branch,
                    "path": crate::render::helm::chart_dir(cluster, u),
                });
                src["helm"] = helm_values(u, ru.values.node.to_json());
                src
            }
            Some(h) => helm_source(u, h, ru.version.as_deref(), ru.values.node.to_json()),
            None => json!({
                "repoURL": out.repository.clone().unwrap_or_default(),
                "targetRevision": out.branch,
                "path": unit_path(cluster, u),
                "directory": { "recurse": false },
            }),
        };
        let mut destination = json!({ "server": self.cluster.server.clone().unwrap_or_default() });
        let mut sync = json!({ "automated": { "prune": true, "selfHeal": true } });
        if let Some(ns) = &u.namespace {
            destination["namespace"] = json!(ns);
            sync["syncOptions"] = json!([CREATE_NAMESPACE]);
        }
        let mut md = metadata(
            &app_name(cluster, &u.name),
            ARGOCD_NAMESPACE,
            Some(cluster),
            self.fleet_labels,
            &u.file,
            &[
                ("argocd.argoproj.io/manifest-generate-paths", ".".into()),
                ("argocd.argoproj.io/sync-wave", self.depth.to_string()),
            ],
        );
        // Removing the Application (the unit left the cluster) removes what it deployed,
        // as a Flux Kustomization with prune does.
        md["finalizers"] = json!(["resources-finalizer.argocd.argoproj.io"]);
        json!({
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Application",
            "metadata": md,
            "spec": {
                "project": out.argocd_project,
                "destination": destination,
                "source": source,
                "syncPolicy": sync,
            },
        })
    }
}

/// Check every distinct agent setting of the fleet (`settings::check`)
/// on the objects as this module builds them.
pub fn check_settings(repo: &Repo, resolved: &Resolved, format: Format) -> Diags {
    let build = |part: Part, rc: &ResolvedCluster, ru: &ResolvedUnit| -> Json {
        let u = &repo.units[ru.unit];
        match part {
            Part::Kustomization => flux_kustomization(repo, u, &rc.name, false, false, &[]),
            Part::Application => Application {
                cluster: &repo.clusters[rc.cluster],
                depth: 0,
                fleet_labels: &[],
            }
            .build(repo, u, ru),
            Part::HelmRelease => u.helm.as_ref().map_or(Json::Null, |h| {
                // Without the settings: `check` lays them over with their spans.
                let bare = ResolvedUnit {
                    agent: None,
                    ..ru.clone()
                };
                crate::render::helm::flux_objects(u, h, &bare, &repo.output().interval, &rc.name)
                    .into_iter()
                    .find(|r| r.kind == "HelmRelease")
                    .map_or(Json::Null, |r| r.node.to_json())
            }),
        }
    };
    settings::check(repo, resolved, format, &build)
}

/// Helm source of an Argo CD Application. OCI charts use Argo CD's native OCI
/// source (`oci://registry/path/chart`, `path: .`); chart repositories use
/// `repoURL` + `chart`.
fn helm_source(
    u: &Unit,
    h: &crate::load::model::Helm,
    version: Option<&str>,
    values: Json,
) -> Json {
    let helm = helm_values(u, values);
    let mut src = if h.is_oci() {
        json!({
            "repoURL": format!("{}/{}", h.repository.trim_end_matches('/'), h.chart),
            "path": ".",
        })
    } else {
        json!({ "repoURL": h.repository, "chart": h.chart })
    };
    src["targetRevision"] = json!(version.unwrap_or_default());
    src["helm"] = helm;
    src
}

/// The `helm` of an Argo CD Helm source: the release name and the values.
fn helm_values(u: &Unit, values: Json) -> Json {
    let mut helm = json!({ "releaseName": u.name });
    if values.as_object().is_some_and(|m| !m.is_empty()) {
        helm["valuesObject"] = values;
    }
    helm
}

/// `bootstrap/argocd.yaml`: the Application health check that makes sync
/// waves between child Applications wait, then the root Application over `argocd/`.
pub fn argocd_bootstrap(repo: &Repo, fleet_labels: &[(String, String)]) -> Vec<u8> {
    let out = repo.output();
    let source = repo
        .fleet
        .as_ref()
        .map_or("fleet.yaml", |f| f.file.as_str());
    // argocd-cm belongs to the Argo CD installation: only the labels it already
    // carries, so a server-side apply shares the object instead of fighting over it.
    let cm = json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "argocd-cm",
            "namespace": ARGOCD_NAMESPACE,
            "labels": { "app.kubernetes.io/name": "argocd-cm", "app.kubernetes.io/part-of": "argocd" },
        },
        "data": { "resource.customizations.health.argoproj.io_Application": APPLICATION_HEALTH },
    });
    let root = json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": metadata(ROOT, ARGOCD_NAMESPACE, None, fleet_labels, source, &[]),
        "spec": {
            "project": out.argocd_project,
            "destination": { "server": IN_CLUSTER, "namespace": ARGOCD_NAMESPACE },
            "source": {
                "repoURL": out.repository.clone().unwrap_or_default(),
                "targetRevision": out.branch,
                "path": "argocd",
                "directory": { "recurse": true },
            },
            "syncPolicy": { "automated": { "prune": true, "selfHeal": true } },
        },
    });
    format!("{}---\n{}", yaml_of(&cm), yaml_of(&root)).into_bytes()
}

/// Lua health check for `Application`: an Application is as healthy as it
/// reports itself, and Progressing until it reports anything. Without it Argo
/// CD treats child Applications as healthy at once and waves do not wait.
const APPLICATION_HEALTH: &str = r#"local hs = {status = "Progressing", message = "waiting for the application to report its health"}
if obj.status ~= nil and obj.status.health ~= nil and obj.status.health.status ~= nil then
  hs.status = obj.status.health.status
  hs.message = obj.status.health.message or ""
end
return hs
"#;

/// Name of the Application of unit `unit` on `cluster`.
pub fn app_name(cluster: &str, unit: &str) -> String {
    format!("{cluster}-{unit}")
}

/// The plain format carries no Helm chart: a Helm component that some
/// placement puts on a cluster is an error, pointing at the chart and the
/// first placement (in file order) that places it.
pub fn check_plain_helm(repo: &Repo, resolved: &Resolved, overridden: bool) -> Diags {
    let mut diags = Diags::default();
    let placed: std::collections::BTreeSet<(usize, usize)> = resolved
        .clusters
        .iter()
        .flat_map(|c| &c.units)
        .filter_map(|u| Some((u.unit, u.placement?)))
        .collect();
    for (ui, u) in repo.units.iter().enumerate() {
        let Some(h) = &u.helm else { continue };
        let Some(&(_, pi)) = placed.range((ui, 0)..=(ui, usize::MAX)).next() else {
            continue;
        };
        let p = &repo.placements[pi];
        let mut d = Diagnostic::error(
            Code::FormatRequirement,
            format!(
                "component `{}` is a Helm chart, which the plain output format cannot carry",
                u.name
            ),
        )
        .at(&h.span)
        .related(&p.component.span, "placed by this placement")
        .help("fleetc does not run Helm: a chart is emitted as a Flux HelmRelease (format `flux`) or an Argo CD Application (format `argocd`); choose one of those formats");
        if let (false, Some(fs)) = (
            overridden,
            repo.fleet.as_ref().and_then(|f| f.format_span.as_ref()),
        ) {
            d = d.related(fs, "the plain format is chosen here");
        }
        diags.push(d);
    }
    diags
}

/// Two (cluster, unit) pairs whose Application names collide (`a-b` + `c`
/// and `a` + `b-c`) would overwrite each other on the hub.
pub fn check_argocd_names(repo: &Repo, resolved: &Resolved) -> Diags {
    let mut diags = Diags::default();
    let mut seen: BTreeMap<String, (String, String)> = BTreeMap::new();
    for rc in &resolved.clusters {
        for ru in &rc.units {
            let u = &repo.units[ru.unit];
            let name = app_name(&rc.name, &u.name);
            if let Some((c, x)) = seen.get(&name) {
                if (c.as_str(), x.as_str()) != (rc.name.as_str(), u.name.as_str()) {
                    diags.push(
                        Diagnostic::error(Code::ArgoCdNameCollision, format!(
                            "Argo CD Application `{name}` would be written for both `{x}` on cluster `{c}` and `{}` on cluster `{}`",
                            u.name, rc.name
                        ))
                        .at(&u.name_span)
                        .help("Applications are named <cluster>-<component>; rename the component or one of the clusters"),
                    );
                }
            } else {
                seen.insert(name, (rc.name.clone(), u.name.clone()));
            }
        }
    }
    diags
}
