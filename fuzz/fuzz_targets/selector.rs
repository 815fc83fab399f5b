//! Label selectors: a selector document and a label document (split at the
//! first NUL byte) are loaded and the selector evaluated against the labels.
//! `matchLabels` alone must agree with a plain subset check.
#![no_main]
use libfuzzer_sys::fuzz_target;

use fleetc::diag::Source;
use fleetc::yaml::{parse_documents, Budget, Value};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (sel, labels) = text.split_once('\0').unwrap_or((text, ""));
    let budget = Budget {
        max_nodes: 10_000,
        ..Budget::default()
    };
    let Ok(sd) = parse_documents(&Source::new("selector.yaml", sel), &budget) else { return };
    let Ok(ld) = parse_documents(&Source::new("labels.yaml", labels), &budget) else { return };
    let Some(sn) = sd.first() else { return };
    let s = fleetc::load::model::selector(sn);
    let mut map = indexmap::IndexMap::new();
    if let Some(m) = ld.first().and_then(|n| n.as_map()) {
        for (k, v) in m {
            if let Value::Str(s) = &v.v {
                map.insert(k.name.clone(), s.clone());
            }
        }
    }
    let got = s.matches(&map);
    if s.exprs.is_empty() {
        let subset = s
            .match_labels
            .iter()
            .all(|(k, v, _)| map.get(k).is_some_and(|x| x == v));
        assert_eq!(got, subset, "matchLabels disagrees with a subset check");
    }
});
