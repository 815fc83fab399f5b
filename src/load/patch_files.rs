//! Patches kept in files: a patch entry's `path:` names a file under the
//! repository's `patches/` directory, relative to the placement file, and
//! the patches of that file replace the entry. As kustomize reads them: a
//! YAML document that is a mapping is a strategic merge patch (a JSON
//! merge patch for custom resources) that names the object it patches
//! (`apiVersion`, `kind`, `metadata.name`, `metadata.namespace`) unless
//! the entry has a `target`; a document that is a list is RFC 6902
//! operations, which need the entry's `target`.

use super::model::{Patch, PatchBody, PatchTarget, Repo};
use super::source_of;
use crate::diag::{Code, Diagnostic, Diags};
use crate::source::FileSet;
use crate::yaml::{Budget, Map, Node, Value};

/// Where patch files live.
pub const DIR: &str = "patches";

/// Replace every `path:` entry of the placements and their targets with
/// the patches of its file.
pub fn read(fs: &FileSet, repo: &mut Repo, budget: &Budget, diags: &mut Diags) {
    for p in &mut repo.placements {
        let dir = p.file.rsplit_once('/').map_or("", |(d, _)| d).to_string();
        let mut files = Vec::new();
        p.patches = expand(
            fs,
            &dir,
            std::mem::take(&mut p.patches),
            budget,
            (&mut files, diags),
        );
        for t in &mut p.targets {
            let patches = std::mem::take(&mut t.patches);
            t.patches = expand(fs, &dir, patches, budget, (&mut files, diags));
        }
        files.sort();
        files.dedup();
        p.patch_files = files;
    }
}

fn expand(
    fs: &FileSet,
    dir: &str,
    patches: Vec<Patch>,
    budget: &Budget,
    (files, diags): (&mut Vec<String>, &mut Diags),
) -> Vec<Patch> {
    let mut out = Vec::new();
    for entry in patches {
        let PatchBody::File { path, targeted } = &entry.body else {
            out.push(entry);
            continue;
        };
        let err = |m: String| {
            Diagnostic::error(Code::PatchFile, m).at(&entry.span).help(
                "keep patch files under patches/ and name them relative to the placement file (e.g. `../patches/prod/replicas.yaml`)",
            )
        };
        let Some(file) = resolve(dir, path) else {
            diags.push(err(format!(
                "`{path}` is not a patch file fleetc reads: from the placement's directory, it must lead into {DIR}/ within the repository"
            )));
            continue;
        };
        files.push(file.clone());
        let Some(bytes) = fs.get(&file) else {
            diags.push(err(format!(
                "no file `{file}` (the patch's `path: {path}`)"
            )));
            continue;
        };
        let docs = match source_of(&file, bytes)
            .and_then(|src| crate::yaml::parse_documents(&src, budget))
        {
            Ok(d) => d,
            Err(d) => {
                diags.push(d);
                continue;
            }
        };
        if docs.is_empty() {
            diags.push(err(format!("`{file}` holds no patch")));
        }
        for doc in docs {
            if let Some(p) = from_document(&entry, *targeted, doc, diags) {
                out.push(p);
            }
        }
    }
    out
}

/// One YAML document of a patch file, as a patch.
fn from_document(entry: &Patch, targeted: bool, doc: Node, diags: &mut Diags) -> Option<Patch> {
    let span = doc.span.clone();
    let named = named(&doc).filter(|_| !targeted);
    let problem = match (&doc.v, targeted) {
        (Value::Seq(_), false) => Some((
            "a list of JSON 6902 operations patches the objects the patch entry's `target` selects, and this entry has none",
            "add `target: {kind: ..., name: ...}` next to `path:`",
        )),
        (Value::Map(_), false) if named.is_none() => Some((
            "this patch names no object: a patch file's merge patch says which object it patches with `apiVersion`, `kind` and `metadata.name`",
            "add them to the patch, or a `target` to the patch entry",
        )),
        (Value::Seq(_) | Value::Map(_), _) => None,
        _ => Some((
            "a patch is a mapping (a strategic merge or JSON merge patch) or a list of JSON 6902 operations",
            "write the patch as a mapping or a list",
        )),
    };
    if let Some((message, help)) = problem {
        diags.push(
            Diagnostic::error(Code::PatchFile, message)
                .at(&span)
                .related(&entry.span, "the patch entry")
                .help(help),
        );
        return None;
    }
    let (target, target_span) = match named {
        Some(t) => (t, span.clone()),
        None => (entry.target.clone(), entry.target_span.clone()),
    };
    let body = match doc.v {
        Value::Seq(ops) => PatchBody::Json(ops),
        Value::Map(m) => PatchBody::Merge(Node::map(without_identity(m), span.clone())),
        _ => return None,
    };
    Some(Patch {
        target,
        body,
        formats: entry.formats.clone(),
        span,
        target_span,
    })
}

/// The object a merge patch names, as kustomize matches it: group and
/// version from `apiVersion`, `kind`, `metadata.name` and, when set,
/// `metadata.namespace` (None without a kind and a name).
fn named(doc: &Node) -> Option<PatchTarget> {
    let text = |path: &[&str]| {
        doc.get_path(path)
            .and_then(Node::as_str)
            .map(str::to_string)
    };
    let (group, version) = match text(&["apiVersion"]) {
        Some(av) => match av.split_once('/') {
            Some((g, v)) => (Some(g.to_string()), Some(v.to_string())),
            None => (Some(String::new()), Some(av)),
        },
        None => (None, None),
    };
    Some(PatchTarget {
        group,
        version,
        kind: Some(text(&["kind"])?),
        name: Some(text(&["metadata", "name"])?),
        namespace: text(&["metadata", "namespace"]),
        selector: None,
    })
}

/// A merge patch without the fields that say which object it patches
/// (kustomize does not apply them: with a `target`, they may name
/// anything).
fn without_identity(mut m: Map) -> Map {
    m.shift_remove("apiVersion");
    m.shift_remove("kind");
    if let Some(Value::Map(md)) = m.get_mut("metadata").map(|n| &mut n.v) {
        md.shift_remove("name");
        md.shift_remove("namespace");
        if md.is_empty() {
            m.shift_remove("metadata");
        }
    }
    m
}

/// `path` from the directory `dir`, within the repository and under
/// [`DIR`]; None otherwise.
fn resolve(dir: &str, path: &str) -> Option<String> {
    if path.starts_with('/') {
        return None;
    }
    let mut parts: Vec<&str> = dir.split('/').filter(|p| !p.is_empty()).collect();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            s => parts.push(s),
        }
    }
    (parts.len() >= 2 && parts[0] == DIR && !parts.iter().any(|p| p.starts_with('.')))
        .then(|| parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::resolve;

    #[test]
    fn paths_lead_into_patches() {
        assert_eq!(
            resolve("placements", "../patches/a.yaml").as_deref(),
            Some("patches/a.yaml")
        );
        assert_eq!(
            resolve("placements", "../patches/prod/./b.yml").as_deref(),
            Some("patches/prod/b.yml")
        );
        assert_eq!(resolve("placements", "patches/a.yaml"), None);
        assert_eq!(resolve("placements", "../../patches/a.yaml"), None);
        assert_eq!(resolve("placements", "/patches/a.yaml"), None);
        assert_eq!(
            resolve("placements", "../components/x/templates/a.yaml"),
            None
        );
        assert_eq!(resolve("placements", "../patches/.hidden/a.yaml"), None);
    }
}
