//! `fleetc import kustomize`: a kustomize layout (overlays over shared
//! bases) becomes a new fleet repository (docs/migrating.md).
//!
//! [`kustomize`] reads the layout into [`Layout`]: the shared bases as
//! components (their resource files kept byte for byte), each overlay as a
//! cluster with the changes it makes to each component, in the order
//! kustomize applies them, as patch files. [`fleet`] writes that as a
//! fleet: one placement per component, the changes every cluster shares
//! as the placement's patches, the rest as targets over the clusters that
//! share them. What has no faithful equivalent is reported, at its file
//! and line, and nothing is produced.
//!
//! I/O stays with the caller: the layout is read through [`Tree`].

pub mod fleet;
pub mod kustomize;

pub use kustomize::read;

use std::collections::BTreeMap;

/// Read access to the files of a kustomize layout. Paths are relative to
/// the caller's working directory, `/`-separated and normalised (no `.`,
/// `..` only at the front).
pub trait Tree {
    fn read(&self, path: &str) -> Result<Vec<u8>, String>;
    fn is_dir(&self, path: &str) -> bool;
    fn is_file(&self, path: &str) -> bool;
}

/// One overlay to import: its directory and the cluster name it becomes
/// (default: the directory's name).
#[derive(Clone, Debug)]
pub struct Overlay {
    pub name: Option<String>,
    pub dir: String,
}

/// What the new fleet says besides the layout.
#[derive(Clone, Debug)]
pub struct Options {
    pub fleet_name: String,
    pub kubernetes_version: String,
    /// With a repository, the fleet renders for Flux; without, `plain`.
    pub repository: Option<String>,
}

/// A component: a shared base, or resources an overlay lists itself.
#[derive(Clone, Debug)]
pub struct Component {
    pub name: String,
    /// The directory it came from (a base), or the overlay's.
    pub from: String,
    pub namespace: Option<String>,
    /// Whether one of its resources is the Namespace `namespace`.
    pub renders_namespace: bool,
    /// Custom resource kinds its CRDs define (`Kind.group`), and those of
    /// them that are cluster-scoped.
    pub defines_kinds: Vec<String>,
    pub cluster_kinds: Vec<String>,
    /// (path under `templates/`, the resource file's bytes).
    pub templates: Vec<(String, Vec<u8>)>,
    /// Every object of its resources: (apiVersion, kind, name, namespace).
    pub objects: Vec<ObjectId>,
}

/// Whether objects of this kind live in a namespace: built-in kinds as
/// Kubernetes has them, custom kinds unless a CRD among `comps` says
/// `scope: Cluster` (kustomize's rule too).
pub fn namespaced(api_version: &str, kind: &str, cluster_kinds: &[String]) -> bool {
    let group = api_version.split_once('/').map_or("", |(g, _)| g);
    !crate::kube::known_cluster_scoped(group, kind)
        && !cluster_kinds
            .iter()
            .any(|k| *k == format!("{kind}.{group}"))
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ObjectId {
    pub api_version: String,
    pub kind: String,
    pub name: String,
    pub namespace: Option<String>,
}

/// A patch entry of a placement: a patch file's name and bytes, and the
/// entry's target (group, version, kind, name) when it has one.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Change {
    pub file_name: String,
    pub bytes: Vec<u8>,
    pub target: Option<[Option<String>; 4]>,
}

/// An overlay as a cluster: which components it has and, per component,
/// its changes in kustomize's order.
#[derive(Clone, Debug)]
pub struct Cluster {
    pub name: String,
    pub dir: String,
    /// The overlay's `namespace`: every namespaced object is moved there.
    pub namespace: Option<String>,
    pub components: Vec<usize>,
    pub changes: BTreeMap<usize, Vec<Change>>,
}

#[derive(Clone, Debug, Default)]
pub struct Layout {
    pub components: Vec<Component>,
    pub clusters: Vec<Cluster>,
}

/// Normalise a `/`-separated path lexically: drop `.` and empty segments,
/// fold `dir/..`.
pub fn normalize(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." if out.last().is_some_and(|l| *l != "..") => {
                out.pop();
            }
            s => out.push(s),
        }
    }
    let abs = if path.starts_with('/') { "/" } else { "" };
    if out.is_empty() {
        if abs.is_empty() {
            ".".into()
        } else {
            "/".into()
        }
    } else {
        format!("{abs}{}", out.join("/"))
    }
}

/// `rel` seen from directory `dir`.
pub fn join(dir: &str, rel: &str) -> String {
    if dir == "." {
        normalize(rel)
    } else {
        normalize(&format!("{dir}/{rel}"))
    }
}

/// A DNS-1123 label made from `s`: lower case, other characters to `-`.
pub fn label_of(s: &str) -> String {
    crate::scaffold::dns_label(s, "imported")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_normalise_lexically() {
        assert_eq!(normalize("a/./b/../c"), "a/c");
        assert_eq!(normalize("../x/../../y"), "../../y");
        assert_eq!(join("overlays/prod", "../../base"), "base");
        assert_eq!(join(".", "./base/"), "base");
        assert_eq!(normalize("a/.."), ".");
        assert_eq!(normalize("/tmp/x/../y"), "/tmp/y");
    }

    #[test]
    fn names_become_labels() {
        assert_eq!(label_of("Prod_EU.1"), "prod-eu-1");
        assert_eq!(label_of("--"), "imported");
    }
}
