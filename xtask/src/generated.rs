//! What the generators of committed data (`crd-schemas`, `k8s-schemas`)
//! share: a stable JSON form and hex digests.

use serde_json::{Map, Value as Json};

/// The same JSON with every object's keys sorted (serde_json keeps insertion
/// order in this workspace), so that output does not depend on input order.
pub(crate) fn sorted(v: &Json) -> Json {
    match v {
        Json::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let mut out = Map::new();
            for k in keys {
                out.insert(k.clone(), sorted(&m[k]));
            }
            Json::Object(out)
        }
        Json::Array(a) => Json::Array(a.iter().map(sorted).collect()),
        x => x.clone(),
    }
}

/// Lower-case hex of a finished digest.
pub(crate) fn hex(digest: &[u8]) -> String {
    digest.iter().map(|x| format!("{x:02x}")).collect()
}
