//! Patches (SPEC §5): strategic merge patch for built-in kinds, JSON merge
//! patch (RFC 7386) for custom resources, JSON patch (RFC 6902) for both.
//!
//! The strategic merge follows `kubectl patch --type strategic`: lists whose
//! Kubernetes field declares `patchStrategy: merge` merge by their
//! `patchMergeKey` (containers by `name`, ports by `containerPort`, volume
//! mounts by `mountPath`, ...), other lists are replaced, maps merge, `null`
//! deletes; `$patch: replace|delete|merge` and `$deleteFromPrimitiveList`,
//! `$retainKeys` directives are honoured. After a merge, list order is
//! kubectl's: the patch's items in patch order, with items only in the
//! original interleaved where they stood. `tests/patch-cases/` holds the
//! cases whose expected output kubectl itself produced.

use crate::yaml::{Key, Map, Node, Value};

/// Where in a built-in object a map sits, for the merge strategy of its lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ctx {
    Object(Root),
    Meta,
    WorkloadSpec,
    CronJobSpec,
    JobTemplate,
    PodTemplate,
    PodSpec,
    Container,
    ServiceSpec,
    Plain,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Root {
    Pod,
    Workload,
    CronJob,
    PodTemplate,
    Service,
    ServiceAccount,
    Other,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ListStrategy {
    Replace,
    MergeKey(&'static str),
    MergePrimitive,
}

fn root_of(group: &str, kind: &str) -> Root {
    match (group, kind) {
        ("", "Pod") => Root::Pod,
        ("apps", "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet")
        | ("batch", "Job")
        | ("", "ReplicationController") => Root::Workload,
        ("batch", "CronJob") => Root::CronJob,
        ("", "PodTemplate") => Root::PodTemplate,
        ("", "Service") => Root::Service,
        ("", "ServiceAccount") => Root::ServiceAccount,
        _ => Root::Other,
    }
}

fn child(ctx: Ctx, key: &str) -> Ctx {
    match (ctx, key) {
        (Ctx::Object(_), "metadata") | (Ctx::PodTemplate, "metadata") => Ctx::Meta,
        (Ctx::Object(Root::Pod), "spec") | (Ctx::PodTemplate, "spec") => Ctx::PodSpec,
        (Ctx::Object(Root::Workload), "spec") | (Ctx::JobTemplate, "spec") => Ctx::WorkloadSpec,
        (Ctx::Object(Root::CronJob), "spec") => Ctx::CronJobSpec,
        (Ctx::Object(Root::PodTemplate), "template") | (Ctx::WorkloadSpec, "template") => {
            Ctx::PodTemplate
        }
        (Ctx::CronJobSpec, "jobTemplate") => Ctx::JobTemplate,
        (Ctx::Object(Root::Service), "spec") => Ctx::ServiceSpec,
        (Ctx::PodSpec, "containers" | "initContainers" | "ephemeralContainers") => Ctx::Container,
        _ => Ctx::Plain,
    }
}

/// The patch strategy of list field `key` in a map at `ctx` (from k8s.io/api's struct tags).
fn list_strategy(ctx: Ctx, key: &str) -> ListStrategy {
    use ListStrategy::*;
    match (ctx, key) {
        (Ctx::Meta, "finalizers") => MergePrimitive,
        (Ctx::Meta, "ownerReferences") => MergeKey("uid"),
        (Ctx::PodSpec, "containers" | "initContainers" | "ephemeralContainers") => MergeKey("name"),
        (Ctx::PodSpec, "volumes" | "imagePullSecrets" | "schedulingGates" | "resourceClaims") => {
            MergeKey("name")
        }
        (Ctx::PodSpec, "hostAliases") => MergeKey("ip"),
        (Ctx::PodSpec, "topologySpreadConstraints") => MergeKey("topologyKey"),
        (Ctx::Container, "ports") => MergeKey("containerPort"),
        (Ctx::Container, "env") => MergeKey("name"),
        (Ctx::Container, "volumeMounts") => MergeKey("mountPath"),
        (Ctx::Container, "volumeDevices") => MergeKey("devicePath"),
        (Ctx::ServiceSpec, "ports") => MergeKey("port"),
        (Ctx::Object(Root::ServiceAccount), "secrets") => MergeKey("name"),
        _ => Replace,
    }
}

/// Whether fleetc knows the strategic-merge schema of this kind (else: JSON merge patch).
pub fn is_builtin(group: &str) -> bool {
    matches!(group, "" | "apps" | "batch" | "autoscaling" | "policy") || group.ends_with(".k8s.io")
}

fn directive(m: &Map) -> Option<&str> {
    m.get("$patch").and_then(Node::as_str)
}

/// A patch value with its directives removed (for places with nothing to merge into).
fn strip(n: &Node) -> Node {
    match &n.v {
        Value::Map(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                if k.name.starts_with('$') || v.is_null() {
                    continue;
                }
                out.insert(k.clone(), strip(v));
            }
            Node::new(Value::Map(out), n.span.clone())
        }
        Value::Seq(items) => Node::new(
            Value::Seq(
                items
                    .iter()
                    .filter(|i| i.as_map().and_then(directive) != Some("delete"))
                    .filter(|i| {
                        !i.as_map()
                            .is_some_and(|m| m.len() == 1 && directive(m).is_some())
                    })
                    .map(strip)
                    .collect(),
            ),
            n.span.clone(),
        ),
        _ => n.clone(),
    }
}

/// Whether a merge patch deletes its object: `$patch: delete` at its top
/// level (kustomize removes the object; for any kind).
pub fn deletes(patch: &Node) -> bool {
    patch.as_map().and_then(directive) == Some("delete")
}

/// Apply a strategic merge patch to a built-in object.
pub fn strategic(target: &mut Node, patch: &Node, group: &str, kind: &str) -> Result<(), String> {
    let (Value::Map(_), Some(pm)) = (&target.v, patch.as_map()) else {
        return Err("a strategic merge patch must be a mapping".into());
    };
    let ctx = Ctx::Object(root_of(group, kind));
    match merge_map(target, pm, ctx)? {
        MapOutcome::Keep => Ok(()),
        MapOutcome::Delete => {
            Err("`$patch: delete` at the top level would delete the whole object".into())
        }
    }
}

enum MapOutcome {
    Keep,
    Delete,
}

fn merge_map(orig: &mut Node, patch: &Map, ctx: Ctx) -> Result<MapOutcome, String> {
    match directive(patch) {
        Some("replace") => {
            *orig = strip(&Node::new(Value::Map(patch.clone()), orig.span.clone()));
            return Ok(MapOutcome::Keep);
        }
        Some("delete") => return Ok(MapOutcome::Delete),
        Some("merge") | None => {}
        Some(other) => return Err(format!("unknown patch directive `$patch: {other}`")),
    }
    if !matches!(orig.v, Value::Map(_)) {
        orig.v = Value::Map(Map::new());
    }
    let Value::Map(om) = &mut orig.v else {
        unreachable!()
    };
    if let Some(keep) = patch.get("$retainKeys").and_then(Node::as_seq) {
        let keep: Vec<&str> = keep.iter().filter_map(Node::as_str).collect();
        om.retain(|k, _| keep.contains(&k.name.as_str()));
    }
    for (k, v) in patch {
        if let Some(field) = k.name.strip_prefix("$deleteFromPrimitiveList/") {
            let drop: Vec<&Node> = v.as_seq().map(|s| s.iter().collect()).unwrap_or_default();
            if let Some(Value::Seq(items)) = om.get_mut(field).map(|n| &mut n.v) {
                items.retain(|i| !drop.iter().any(|d| d.same(i)));
            }
            continue;
        }
        if k.name.starts_with("$setElementOrder/") || k.name == "$retainKeys" || k.name == "$patch"
        {
            continue;
        }
        if k.name.starts_with('$') {
            return Err(format!("unknown patch directive `{}`", k.name));
        }
        if v.is_null() {
            om.shift_remove(k.name.as_str());
            continue;
        }
        let cctx = child(ctx, &k.name);
        let existing = om.get_mut(k.name.as_str());
        match (existing, &v.v) {
            (Some(o), Value::Map(pm)) if matches!(o.v, Value::Map(_)) => {
                // kubectl: `$patch: delete` on a map leaves an empty map, not a missing key.
                if let MapOutcome::Delete = merge_map(o, pm, cctx)? {
                    o.v = Value::Map(Map::new());
                }
            }
            (Some(o), Value::Seq(pl)) if matches!(o.v, Value::Seq(_)) => {
                let Value::Seq(ol) = &mut o.v else {
                    unreachable!()
                };
                let merged = merge_list(std::mem::take(ol), pl, list_strategy(ctx, &k.name), cctx)?;
                *ol = merged;
            }
            (Some(o), _) => *o = strip(v),
            (None, _) => {
                om.insert(
                    Key {
                        name: k.name.clone(),
                        span: k.span.clone(),
                    },
                    strip(v),
                );
            }
        }
    }
    Ok(MapOutcome::Keep)
}

fn key_of<'a>(n: &'a Node, key: &str) -> Option<&'a Node> {
    n.as_map().and_then(|m| m.get(key))
}

fn merge_list(
    orig: Vec<Node>,
    patch: &[Node],
    strategy: ListStrategy,
    item_ctx: Ctx,
) -> Result<Vec<Node>, String> {
    match strategy {
        ListStrategy::Replace => Ok(patch.iter().map(strip).collect()),
        ListStrategy::MergePrimitive => {
            let mut merged = orig.clone();
            for p in patch {
                if !merged.iter().any(|o| o.same(p)) {
                    merged.push(p.clone());
                }
            }
            let same = |a: &Node, b: &Node| a.same(b);
            Ok(order(merged, patch, &orig, same))
        }
        ListStrategy::MergeKey(mk) => {
            if patch.iter().any(|p| {
                p.as_map()
                    .is_some_and(|m| directive(m) == Some("replace") && m.len() == 1)
            }) {
                return Ok(patch
                    .iter()
                    .filter(|p| {
                        !p.as_map()
                            .is_some_and(|m| directive(m).is_some() && m.len() == 1)
                    })
                    .map(strip)
                    .collect());
            }
            let mut merged = orig.clone();
            let mut patch_items: Vec<Node> = Vec::new();
            for p in patch {
                let Some(pm) = p.as_map() else {
                    return Err(format!("list items merged by `{mk}` must be mappings"));
                };
                let Some(kv) = pm.get(mk) else {
                    return Err(format!("a list item has no merge key `{mk}`"));
                };
                let pos = merged
                    .iter()
                    .position(|o| key_of(o, mk).is_some_and(|x| x.same(kv)));
                if directive(pm) == Some("delete") {
                    if let Some(i) = pos {
                        merged.remove(i);
                    }
                    continue;
                }
                match pos {
                    Some(i) => {
                        if let MapOutcome::Delete = merge_map(&mut merged[i], pm, item_ctx)? {
                            merged.remove(i);
                            continue;
                        }
                    }
                    None => merged.push(strip(p)),
                }
                patch_items.push(p.clone());
            }
            let same = |a: &Node, b: &Node| match (key_of(a, mk), key_of(b, mk)) {
                (Some(x), Some(y)) => x.same(y),
                _ => false,
            };
            Ok(order(merged, &patch_items, &orig, same))
        }
    }
}

/// kubectl's order after a merge: items named in the patch, in patch order; items
/// only in the original, in original order, interleaved before the first patch
/// item that stood after them in the original.
fn order(
    merged: Vec<Node>,
    patch: &[Node],
    orig: &[Node],
    same: impl Fn(&Node, &Node) -> bool,
) -> Vec<Node> {
    let index = |list: &[Node], n: &Node| list.iter().position(|x| same(x, n));
    let (mut in_patch, mut server_only): (Vec<Node>, Vec<Node>) = merged
        .into_iter()
        .partition(|m| patch.iter().any(|p| same(p, m)));
    in_patch.sort_by_key(|n| index(patch, n).unwrap_or(usize::MAX));
    server_only.sort_by_key(|n| index(orig, n).unwrap_or(usize::MAX));
    let mut out = Vec::with_capacity(in_patch.len() + server_only.len());
    let (mut l, mut r) = (
        server_only.into_iter().peekable(),
        in_patch.into_iter().peekable(),
    );
    loop {
        match (l.peek(), r.peek()) {
            (Some(a), Some(b)) => {
                let take_left =
                    matches!((index(orig, a), index(orig, b)), (Some(i), Some(j)) if i < j);
                let next = if take_left { l.next() } else { r.next() };
                out.extend(next);
            }
            (Some(_), None) => out.extend(l.next()),
            (None, Some(_)) => out.extend(r.next()),
            (None, None) => break,
        }
    }
    out
}

/// Lay `setting` over the `spec` of object `obj` as a JSON merge patch
/// (agent settings on the objects fleetc builds for the agents). The
/// setting's leaves keep their spans.
pub fn merge_into_spec(obj: &mut Node, setting: &Node) {
    if let Some(spec) = obj.as_map_mut().and_then(|m| m.get_mut("spec")) {
        merge_patch(spec, setting);
    }
}

/// RFC 7386 JSON merge patch (custom resources): maps merge, null deletes, the rest replaces.
pub fn merge_patch(target: &mut Node, patch: &Node) {
    let Value::Map(pm) = &patch.v else {
        *target = patch.clone();
        return;
    };
    if !matches!(target.v, Value::Map(_)) {
        target.v = Value::Map(Map::new());
    }
    let Value::Map(tm) = &mut target.v else {
        unreachable!()
    };
    for (k, v) in pm {
        if v.is_null() {
            tm.shift_remove(k.name.as_str());
        } else if let Some(slot) = tm.get_mut(k.name.as_str()) {
            merge_patch(slot, v);
        } else {
            let mut fresh = Node::new(Value::Null, v.span.clone());
            merge_patch(&mut fresh, v);
            tm.insert(k.clone(), fresh);
        }
    }
}

fn pointer(path: &str) -> Result<Vec<String>, String> {
    if path.is_empty() {
        return Ok(Vec::new());
    }
    let Some(rest) = path.strip_prefix('/') else {
        return Err(format!("JSON pointer `{path}` must start with `/`"));
    };
    Ok(rest
        .split('/')
        .map(|s| s.replace("~1", "/").replace("~0", "~"))
        .collect())
}

fn get_mut<'a>(n: &'a mut Node, path: &[String]) -> Option<&'a mut Node> {
    let mut cur = n;
    for seg in path {
        cur = match &mut cur.v {
            Value::Map(m) => m.get_mut(seg.as_str())?,
            Value::Seq(s) => s.get_mut(seg.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(cur)
}

fn remove_at(n: &mut Node, path: &[String]) -> Result<Node, String> {
    let (last, parent) = path.split_last().ok_or("cannot remove the whole object")?;
    let p =
        get_mut(n, parent).ok_or_else(|| format!("path /{} does not exist", parent.join("/")))?;
    match &mut p.v {
        Value::Map(m) => m
            .shift_remove(last.as_str())
            .ok_or_else(|| format!("no key `{last}` to remove")),
        Value::Seq(s) => match last.parse::<usize>() {
            Ok(i) if i < s.len() => Ok(s.remove(i)),
            _ => Err(format!("no list index `{last}` to remove")),
        },
        _ => Err(format!("/{} is not a map or list", parent.join("/"))),
    }
}

fn add_at(n: &mut Node, path: &[String], value: Node) -> Result<(), String> {
    let Some((last, parent)) = path.split_last() else {
        *n = value;
        return Ok(());
    };
    let p =
        get_mut(n, parent).ok_or_else(|| format!("path /{} does not exist", parent.join("/")))?;
    match &mut p.v {
        Value::Map(m) => {
            match m.get_mut(last.as_str()) {
                Some(slot) => *slot = value,
                None => {
                    m.insert(
                        Key {
                            name: last.clone(),
                            span: value.span.clone(),
                        },
                        value,
                    );
                }
            }
            Ok(())
        }
        Value::Seq(s) => {
            let i = if last == "-" {
                s.len()
            } else {
                last.parse::<usize>()
                    .map_err(|_| format!("`{last}` is not a list index"))?
            };
            if i > s.len() {
                return Err(format!("list index {i} is out of range"));
            }
            s.insert(i, value);
            Ok(())
        }
        _ => Err(format!("/{} is not a map or list", parent.join("/"))),
    }
}

/// RFC 6902 JSON patch.
pub fn json_patch(target: &mut Node, ops: &[Node]) -> Result<(), String> {
    for (i, op) in ops.iter().enumerate() {
        let s = |k: &str| op.get(k).and_then(Node::as_str);
        let name = s("op").unwrap_or_default();
        let path = pointer(s("path").unwrap_or_default())
            .map_err(|e| format!("operation {}: {e}", i + 1))?;
        let ctx = |e: String| {
            format!(
                "operation {} ({name} {}): {e}",
                i + 1,
                s("path").unwrap_or_default()
            )
        };
        let value = || {
            op.get("value")
                .cloned()
                .ok_or_else(|| ctx("needs a `value`".into()))
        };
        match name {
            "add" => add_at(target, &path, value()?).map_err(ctx)?,
            "remove" => {
                remove_at(target, &path).map_err(ctx)?;
            }
            "replace" => {
                let v = value()?;
                let slot =
                    get_mut(target, &path).ok_or_else(|| ctx("the path does not exist".into()))?;
                *slot = v;
            }
            "move" | "copy" => {
                let from = pointer(s("from").unwrap_or_default()).map_err(ctx)?;
                let v = if name == "move" {
                    remove_at(target, &from).map_err(ctx)?
                } else {
                    get_mut(target, &from)
                        .map(|n| n.clone())
                        .ok_or_else(|| ctx("`from` does not exist".into()))?
                };
                add_at(target, &path, v).map_err(ctx)?;
            }
            "test" => {
                let v = value()?;
                let got =
                    get_mut(target, &path).ok_or_else(|| ctx("the path does not exist".into()))?;
                if !got.same(&v) {
                    return Err(ctx("the test failed: the value differs".into()));
                }
            }
            other => return Err(ctx(format!("unknown operation `{other}`"))),
        }
    }
    Ok(())
}
