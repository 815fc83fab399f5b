//! The patch engine: an object and a patch (split at the first NUL byte)
//! are loaded; the patch is applied as a strategic merge patch, a JSON merge
//! patch and (when it is a list) a JSON patch. Every result must serialise
//! to YAML that loads back to the same value.
#![no_main]
use libfuzzer_sys::fuzz_target;

use fleetc::diag::Source;
use fleetc::yaml::{parse_documents, Budget, Node};

fn round_trip(n: &Node) {
    let text = fleetc::yaml::write::to_yaml(n);
    let budget = Budget::default();
    let back = parse_documents(&Source::new("out.yaml", text.as_str()), &budget)
        .unwrap_or_else(|e| panic!("emitted YAML does not load: {}\n{text}", e.message));
    let want = n.to_json();
    let got = back.first().map(Node::to_json).unwrap_or(serde_json::Value::Null);
    assert_eq!(got, want, "round trip changed the value:\n{text}");
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (obj, patch) = text.split_once('\0').unwrap_or((text, ""));
    let budget = Budget {
        max_nodes: 10_000,
        max_depth: 40,
        ..Budget::default()
    };
    let Ok(od) = parse_documents(&Source::new("object.yaml", obj), &budget) else { return };
    let Ok(pd) = parse_documents(&Source::new("patch.yaml", patch), &budget) else { return };
    let (Some(o), Some(p)) = (od.first(), pd.first()) else { return };
    if o.as_map().is_none() {
        return;
    }
    let api = o.get("apiVersion").and_then(Node::as_str).unwrap_or("v1");
    let group = api.rsplit_once('/').map_or("", |(g, _)| g);
    let kind = o.get("kind").and_then(Node::as_str).unwrap_or("ConfigMap");
    let mut a = o.clone();
    if fleetc::render::patch::strategic(&mut a, p, group, kind).is_ok() {
        round_trip(&a);
    }
    let mut b = o.clone();
    fleetc::render::patch::merge_patch(&mut b, p);
    round_trip(&b);
    if let Some(ops) = p.as_seq() {
        let mut c = o.clone();
        if fleetc::render::patch::json_patch(&mut c, ops).is_ok() {
            round_trip(&c);
        }
    }
});
