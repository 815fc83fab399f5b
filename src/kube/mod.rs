//! What fleetc knows about Kubernetes kinds: which are cluster-scoped, and
//! how a resource's identity becomes its file name (SPEC §7).
//!
//! [`api`] holds the Kubernetes API itself: which group/version/kinds each
//! minor (1.25–1.37) serves, and a strict check of an object against its
//! OpenAPI schema (data/k8s-schemas/, embedded).

pub mod api;
mod check;
mod data;

/// (group, kind) of built-in and well-known ecosystem kinds that are cluster-scoped.
const CLUSTER_SCOPED: &[(&str, &str)] = &[
    ("", "Namespace"),
    ("", "Node"),
    ("", "PersistentVolume"),
    ("", "ComponentStatus"),
    ("rbac.authorization.k8s.io", "ClusterRole"),
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
    ("apiextensions.k8s.io", "CustomResourceDefinition"),
    ("apiregistration.k8s.io", "APIService"),
    ("storage.k8s.io", "StorageClass"),
    ("storage.k8s.io", "CSIDriver"),
    ("storage.k8s.io", "CSINode"),
    ("storage.k8s.io", "VolumeAttachment"),
    ("storage.k8s.io", "VolumeAttributesClass"),
    (
        "admissionregistration.k8s.io",
        "MutatingWebhookConfiguration",
    ),
    (
        "admissionregistration.k8s.io",
        "ValidatingWebhookConfiguration",
    ),
    ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy"),
    (
        "admissionregistration.k8s.io",
        "ValidatingAdmissionPolicyBinding",
    ),
    ("admissionregistration.k8s.io", "MutatingAdmissionPolicy"),
    (
        "admissionregistration.k8s.io",
        "MutatingAdmissionPolicyBinding",
    ),
    ("scheduling.k8s.io", "PriorityClass"),
    ("node.k8s.io", "RuntimeClass"),
    ("networking.k8s.io", "IngressClass"),
    ("networking.k8s.io", "IPAddress"),
    ("networking.k8s.io", "ServiceCIDR"),
    ("certificates.k8s.io", "CertificateSigningRequest"),
    ("certificates.k8s.io", "ClusterTrustBundle"),
    ("flowcontrol.apiserver.k8s.io", "FlowSchema"),
    ("flowcontrol.apiserver.k8s.io", "PriorityLevelConfiguration"),
    ("policy", "PodSecurityPolicy"),
    ("resource.k8s.io", "DeviceClass"),
    ("resource.k8s.io", "ResourceSlice"),
    ("gateway.networking.k8s.io", "GatewayClass"),
    ("snapshot.storage.k8s.io", "VolumeSnapshotClass"),
    ("snapshot.storage.k8s.io", "VolumeSnapshotContent"),
    // Ecosystem
    ("kyverno.io", "ClusterPolicy"),
    ("kyverno.io", "ClusterCleanupPolicy"),
    ("policies.kyverno.io", "ValidatingPolicy"),
    ("policies.kyverno.io", "ImageValidatingPolicy"),
    ("policies.kyverno.io", "MutatingPolicy"),
    ("policies.kyverno.io", "GeneratingPolicy"),
    ("policies.kyverno.io", "DeletingPolicy"),
    ("wgpolicyk8s.io", "ClusterPolicyReport"),
    ("templates.gatekeeper.sh", "ConstraintTemplate"),
    ("mutations.gatekeeper.sh", "Assign"),
    ("mutations.gatekeeper.sh", "AssignMetadata"),
    ("mutations.gatekeeper.sh", "AssignImage"),
    ("mutations.gatekeeper.sh", "ModifySet"),
    ("cert-manager.io", "ClusterIssuer"),
    ("external-secrets.io", "ClusterSecretStore"),
    ("external-secrets.io", "ClusterExternalSecret"),
    ("karpenter.sh", "NodePool"),
    ("karpenter.sh", "NodeClaim"),
    ("karpenter.k8s.aws", "EC2NodeClass"),
    ("cilium.io", "CiliumClusterwideNetworkPolicy"),
    ("cilium.io", "CiliumLoadBalancerIPPool"),
    ("crd.projectcalico.org", "GlobalNetworkPolicy"),
    ("crd.projectcalico.org", "GlobalNetworkSet"),
    ("projectcalico.org", "GlobalNetworkPolicy"),
    ("projectcalico.org", "GlobalNetworkSet"),
    ("metallb.io", "BGPPeer"),
];

/// Whether a built-in or well-known kind is cluster-scoped (None: unknown here).
pub fn known_cluster_scoped(group: &str, kind: &str) -> bool {
    group == "constraints.gatekeeper.sh"
        || CLUSTER_SCOPED
            .iter()
            .any(|(g, k)| *g == group && *k == kind)
}

/// The group of an apiVersion (`apps/v1` → `apps`, `v1` → ``).
pub fn group_of(api_version: &str) -> &str {
    api_version.rsplit_once('/').map_or("", |(g, _)| g)
}

/// Whether the group is left out of file names.
fn group_omitted(group: &str) -> bool {
    matches!(group, "" | "apps" | "batch" | "autoscaling" | "policy") || group.ends_with(".k8s.io")
}

/// `[<namespace>/]<kind>[.<group>]_<name>.yaml`, lower case.
pub fn file_name(group: &str, kind: &str, namespace: Option<&str>, name: &str) -> String {
    let mut s = String::new();
    if let Some(ns) = namespace {
        s.push_str(ns);
        s.push('/');
    }
    s.push_str(kind);
    if !group_omitted(group) {
        s.push('.');
        s.push_str(group);
    }
    s.push('_');
    s.push_str(name);
    s.push_str(".yaml");
    s.to_lowercase()
}

/// A resource name is safe to use in a file name: no separators, no `.`/`..`, printable.
pub fn safe_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name != "."
        && name != ".."
        && name
            .chars()
            .all(|c| c.is_ascii_graphic() && !matches!(c, '/' | '\\' | '%'))
}

/// A Kubernetes kind: letters and digits, starting with a letter.
pub fn valid_kind(kind: &str) -> bool {
    kind.len() <= 63
        && kind.starts_with(|c: char| c.is_ascii_alphabetic())
        && kind.chars().all(|c| c.is_ascii_alphanumeric())
}

/// `<version>` or `<group>/<version>`, each part of DNS-name characters.
pub fn valid_api_version(api: &str) -> bool {
    api.len() <= 316
        && api.split('/').count() <= 2
        && api.split('/').all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
        })
}

/// A DNS-1123 label (namespaces, fleet object names).
pub fn dns_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// The (group, kind) a `CustomResourceDefinition` defines (its
/// `spec.group` and `spec.names.kind`), given the object's own group, kind
/// and content; None for any other object or an incomplete CRD.
pub fn crd_defines<'a>(
    group: &str,
    kind: &str,
    node: &'a crate::yaml::Node,
) -> Option<(&'a str, &'a str)> {
    if kind != "CustomResourceDefinition" || group != "apiextensions.k8s.io" {
        return None;
    }
    let spec = node.get("spec")?;
    let g = spec.get("group")?.as_str()?;
    let k = spec.get_path(&["names", "kind"])?.as_str()?;
    Some((g, k))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(
            file_name("apps", "Deployment", Some("ingress-nginx"), "controller"),
            "ingress-nginx/deployment_controller.yaml"
        );
        assert_eq!(
            file_name("kyverno.io", "ClusterPolicy", None, "require-labels"),
            "clusterpolicy.kyverno.io_require-labels.yaml"
        );
        assert_eq!(
            file_name("rbac.authorization.k8s.io", "ClusterRole", None, "view"),
            "clusterrole_view.yaml"
        );
        assert!(!safe_name("../x"));
        assert!(safe_name("system:controller:x"));
    }
}
