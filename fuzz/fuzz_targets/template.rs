//! Template rendering: the input is a template (with one includable
//! sibling), rendered against a fixed context under small limits. Errors
//! are fine; panics, hangs and unbounded output are not.
#![no_main]
use std::collections::BTreeMap;
use std::sync::Arc;

use libfuzzer_sys::fuzz_target;

use fleetc::render::template::{environment, render, TemplateLimits};

fuzz_target!(|data: &[u8]| {
    // Panics inside minijinja that fleetc catches (and reports as a
    // template error) must not abort the fuzzer; any other panic still does.
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(fleetc::render::template::install_panic_hook);
    let Ok(src) = std::str::from_utf8(data) else { return };
    let mut sources = BTreeMap::new();
    sources.insert("t.yaml.j2".to_string(), src.to_string());
    sources.insert(
        "_helpers.tpl".to_string(),
        "{% macro label(k, v) %}{{ k }}: {{ v | quote }}{% endmacro %}".to_string(),
    );
    let limits = TemplateLimits {
        fuel: 100_000,
        recursion: 32,
        max_output_bytes: 1 << 20,
    };
    let env = environment(Arc::new(sources), &limits);
    let ctx = serde_json::json!({
        "values": {"replicas": 3, "image": {"tag": "v1"}, "list": [1, "two", null], "text": "a\nb"},
        "vars": {"domain": "example.com"},
        "cluster": {"name": "a", "labels": {"env": "prod"}},
        "component": {"name": "web", "version": "1.0.0"},
    });
    let ctx = minijinja::Value::from(minijinja::value::Serde(&ctx));
    if let Ok(out) = render(&env, "t.yaml.j2", &ctx, &limits) {
        assert!(out.len() <= limits.max_output_bytes);
    }
});
