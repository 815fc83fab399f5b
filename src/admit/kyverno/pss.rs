//! The Pod Security Standards, as Kyverno's `validate.podSecurity` checks
//! them: the `baseline` controls, and `restricted`'s on top; `exclude`
//! waives a control (for containers whose image matches, when it names
//! images).

use serde_json::Value as Json;

/// The pod spec of a Pod or of a workload's template, and the pod's
/// annotations.
pub fn pod_spec<'a>(kind: &str, object: &'a Json) -> Option<(&'a Json, &'a Json)> {
    let (spec, meta) = match kind {
        "Pod" => (&object["spec"], &object["metadata"]),
        "CronJob" => {
            let t = &object["spec"]["jobTemplate"]["spec"]["template"];
            (&t["spec"], &t["metadata"])
        }
        "Deployment"
        | "StatefulSet"
        | "DaemonSet"
        | "Job"
        | "ReplicaSet"
        | "ReplicationController" => {
            let t = &object["spec"]["template"];
            (&t["spec"], &t["metadata"])
        }
        _ => return None,
    };
    spec.is_object().then_some((spec, meta))
}

const BASELINE_CAPABILITIES: &[&str] = &[
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
];

const SAFE_SYSCTLS: &[&str] = &[
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
];

const RESTRICTED_VOLUMES: &[&str] = &[
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
];

/// One violated control: its name (as `exclude.controlName` names it), the
/// image of the container at fault (None: the pod), and what is wrong.
struct Violation {
    control: &'static str,
    image: Option<String>,
    what: String,
}

/// Check a pod spec at `level` (`baseline`, `restricted`; `privileged`
/// allows everything). Returns what violates it, exclusions applied.
pub fn check(level: &str, spec: &Json, meta: &Json, exclude: &[Json]) -> Vec<String> {
    if level == "privileged" {
        return Vec::new();
    }
    let mut v = Vec::new();
    baseline(spec, meta, &mut v);
    if level == "restricted" {
        restricted(spec, &mut v);
    }
    v.into_iter()
        .filter(|x| {
            !exclude.iter().any(|e| {
                e["controlName"].as_str() == Some(x.control)
                    && match (e["images"].as_array(), &x.image) {
                        (Some(images), Some(image)) => images
                            .iter()
                            .filter_map(Json::as_str)
                            .any(|p| super::pattern::wildcard(p, image)),
                        (Some(_), None) => false,
                        (None, _) => true,
                    }
            })
        })
        .map(|x| format!("{} ({})", x.control, x.what))
        .collect()
}

fn containers(spec: &Json) -> impl Iterator<Item = &Json> {
    ["initContainers", "containers", "ephemeralContainers"]
        .into_iter()
        .flat_map(move |k| spec[k].as_array().into_iter().flatten())
}

fn image(c: &Json) -> Option<String> {
    c["image"].as_str().map(String::from)
}

fn baseline(spec: &Json, meta: &Json, v: &mut Vec<Violation>) {
    let mut push = |control: &'static str, image: Option<String>, what: String| {
        v.push(Violation {
            control,
            image,
            what,
        })
    };
    let psc = &spec["securityContext"];
    if psc["windowsOptions"]["hostProcess"] == Json::Bool(true)
        || containers(spec)
            .any(|c| c["securityContext"]["windowsOptions"]["hostProcess"] == Json::Bool(true))
    {
        push("HostProcess", None, "hostProcess: true".into());
    }
    for k in ["hostNetwork", "hostPID", "hostIPC"] {
        if spec[k] == Json::Bool(true) {
            push("Host Namespaces", None, format!("{k}: true"));
        }
    }
    if let Some(vols) = spec["volumes"].as_array() {
        for vol in vols.iter().filter(|x| x.get("hostPath").is_some()) {
            push(
                "HostPath Volumes",
                None,
                format!("volume {} is a hostPath", vol["name"]),
            );
        }
    }
    if let Some(sysctls) = psc["sysctls"].as_array() {
        for s in sysctls {
            let name = s["name"].as_str().unwrap_or_default();
            if !SAFE_SYSCTLS.contains(&name) {
                push("Sysctls", None, format!("sysctl {name}"));
            }
        }
    }
    if psc["seccompProfile"]["type"].as_str() == Some("Unconfined") {
        push("Seccomp", None, "seccompProfile Unconfined".into());
    }
    selinux(psc, None, &mut push);
    if let Some(ann) = meta["annotations"].as_object() {
        for (k, val) in ann {
            if k.starts_with("container.apparmor.security.beta.kubernetes.io/") {
                let p = val.as_str().unwrap_or_default();
                if p != "runtime/default" && !p.starts_with("localhost/") {
                    push("AppArmor", None, format!("{k}: {p}"));
                }
            }
        }
    }
    for c in containers(spec) {
        baseline_container(c, &mut push);
    }
}

/// The baseline controls of one container.
fn baseline_container(c: &Json, push: &mut dyn FnMut(&'static str, Option<String>, String)) {
    let sc = &c["securityContext"];
    let img = image(c);
    let name = c["name"].as_str().unwrap_or_default();
    if sc["privileged"] == Json::Bool(true) {
        push(
            "Privileged Containers",
            img.clone(),
            format!("container {name} is privileged"),
        );
    }
    for cap in sc["capabilities"]["add"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Json::as_str)
    {
        if !BASELINE_CAPABILITIES.contains(&cap) {
            push(
                "Capabilities",
                img.clone(),
                format!("container {name} adds {cap}"),
            );
        }
    }
    for p in c["ports"].as_array().into_iter().flatten() {
        if p["hostPort"].as_i64().is_some_and(|h| h != 0) {
            push(
                "Host Ports",
                img.clone(),
                format!("container {name} uses hostPort {}", p["hostPort"]),
            );
        }
    }
    if sc["procMount"].as_str().is_some_and(|m| m != "Default") {
        push(
            "/proc Mount Type",
            img.clone(),
            format!("container {name} procMount {}", sc["procMount"]),
        );
    }
    if sc["seccompProfile"]["type"].as_str() == Some("Unconfined") {
        push(
            "Seccomp",
            img.clone(),
            format!("container {name} seccompProfile Unconfined"),
        );
    }
    if let Some(t) = sc["appArmorProfile"]["type"].as_str() {
        if t != "RuntimeDefault" && t != "Localhost" {
            push(
                "AppArmor",
                img.clone(),
                format!("container {name} appArmorProfile {t}"),
            );
        }
    }
    selinux(sc, img, push);
}

fn selinux(
    sc: &Json,
    image: Option<String>,
    push: &mut dyn FnMut(&'static str, Option<String>, String),
) {
    let o = &sc["seLinuxOptions"];
    let t = o["type"].as_str().unwrap_or_default();
    if ![
        "",
        "container_t",
        "container_init_t",
        "container_kvm_t",
        "container_engine_t",
    ]
    .contains(&t)
    {
        push("SELinux", image.clone(), format!("seLinuxOptions.type {t}"));
    }
    if o.get("user").is_some_and(|x| !x.is_null()) || o.get("role").is_some_and(|x| !x.is_null()) {
        push("SELinux", image, "seLinuxOptions sets user or role".into());
    }
}

fn restricted(spec: &Json, v: &mut Vec<Violation>) {
    let mut push = |control: &'static str, image: Option<String>, what: String| {
        v.push(Violation {
            control,
            image,
            what,
        })
    };
    for vol in spec["volumes"].as_array().into_iter().flatten() {
        let allowed = vol
            .as_object()
            .map(|m| {
                m.keys()
                    .all(|k| k == "name" || RESTRICTED_VOLUMES.contains(&k.as_str()))
            })
            .unwrap_or(true);
        if !allowed {
            push(
                "Volume Types",
                None,
                format!("volume {} is of a restricted type", vol["name"]),
            );
        }
    }
    let psc = &spec["securityContext"];
    let pod_non_root = psc["runAsNonRoot"] == Json::Bool(true);
    let pod_seccomp = psc["seccompProfile"]["type"].as_str();
    if psc["runAsUser"].as_i64() == Some(0) {
        push("Running as Non-root user", None, "runAsUser: 0".into());
    }
    for c in containers(spec) {
        restricted_container(c, pod_non_root, pod_seccomp, &mut push);
    }
}

/// The restricted controls of one container (the pod's runAsNonRoot and
/// seccomp profile are the defaults its own settings override).
fn restricted_container(
    c: &Json,
    pod_non_root: bool,
    pod_seccomp: Option<&str>,
    push: &mut dyn FnMut(&'static str, Option<String>, String),
) {
    let sc = &c["securityContext"];
    let img = image(c);
    let name = c["name"].as_str().unwrap_or_default();
    if sc["allowPrivilegeEscalation"] != Json::Bool(false) {
        push(
            "Privilege Escalation",
            img.clone(),
            format!("container {name} does not set allowPrivilegeEscalation: false"),
        );
    }
    let non_root = match sc["runAsNonRoot"].as_bool() {
        Some(b) => b,
        None => pod_non_root,
    };
    if !non_root {
        push(
            "Running as Non-root",
            img.clone(),
            format!("container {name} does not set runAsNonRoot: true"),
        );
    }
    if sc["runAsUser"].as_i64() == Some(0) {
        push(
            "Running as Non-root user",
            img.clone(),
            format!("container {name} runs as user 0"),
        );
    }
    let seccomp = sc["seccompProfile"]["type"].as_str().or(pod_seccomp);
    if !matches!(seccomp, Some("RuntimeDefault") | Some("Localhost")) {
        push(
            "Seccomp",
            img.clone(),
            format!("container {name} has no RuntimeDefault or Localhost seccompProfile"),
        );
    }
    let caps = &sc["capabilities"];
    let drops_all = caps["drop"]
        .as_array()
        .is_some_and(|d| d.iter().any(|x| x.as_str() == Some("ALL")));
    if !drops_all {
        push(
            "Capabilities",
            img.clone(),
            format!("container {name} does not drop ALL capabilities"),
        );
    }
    for cap in caps["add"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Json::as_str)
    {
        if cap != "NET_BIND_SERVICE" {
            push(
                "Capabilities",
                img.clone(),
                format!("container {name} adds {cap}"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn levels() {
        let good = json!({"securityContext": {"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{"name": "a", "image": "r/a", "securityContext": {"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}}}]});
        assert!(check("restricted", &good, &Json::Null, &[]).is_empty());
        let host = json!({"hostNetwork": true, "containers": [{"name": "a", "image": "r/a", "ports": [{"containerPort": 80, "hostPort": 80}]}]});
        let v = check("baseline", &host, &Json::Null, &[]);
        assert_eq!(v.len(), 2, "{v:?}");
        assert!(check("restricted", &host, &Json::Null, &[]).len() > 2);
        let exclude = [
            json!({"controlName": "Host Namespaces"}),
            json!({"controlName": "Host Ports", "images": ["r/*"]}),
        ];
        assert!(check("baseline", &host, &Json::Null, &exclude).is_empty());
        assert!(check("privileged", &host, &Json::Null, &[]).is_empty());
    }
}
