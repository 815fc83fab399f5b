//! YAML loading into the model, and everything after it: one file of a
//! small valid fleet (chosen by the first byte) is replaced by (or joined
//! by) the input, then the fleet is planned and every cluster rendered
//! and serialised into a discarding sink. Any panic is a crash.
#![no_main]
use libfuzzer_sys::fuzz_target;

const BASE: &[(&str, &str)] = &[
    ("fleet.yaml", include_str!("../../tests/it/cases/_base/fleet.yaml")),
    ("clusters/a.yaml", include_str!("../../tests/it/cases/_base/clusters/a.yaml")),
    ("clusters/b.yaml", include_str!("../../tests/it/cases/_base/clusters/b.yaml")),
    ("groups/prod.yaml", include_str!("../../tests/it/cases/_base/groups/prod.yaml")),
    ("components/web/component.yaml", include_str!("../../tests/it/cases/_base/components/web/component.yaml")),
    ("components/web/templates/app.yaml.j2", include_str!("../../tests/it/cases/_base/components/web/templates/app.yaml.j2")),
    ("placements/web.yaml", include_str!("../../tests/it/cases/_base/placements/web.yaml")),
];

/// Where an added file goes.
const EXTRA: &[&str] = &[
    "clusters/x.yaml",
    "groups/x.yaml",
    "placements/x.yaml",
    "components/web/templates/x.yaml",
    "components/web/templates/x.yaml.j2",
    "policies/p/policy.yaml",
    "components/web/values.schema.json",
];

fuzz_target!(|data: &[u8]| {
    // Panics inside minijinja that fleetc catches (and reports as a
    // template error) must not abort the fuzzer; any other panic still does.
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(fleetc::render::template::install_panic_hook);
    let Some((&sel, body)) = data.split_first() else { return };
    let mut fs = fleetc::source::FileSet::default();
    for (p, t) in BASE {
        fs.insert(*p, t.as_bytes().to_vec());
    }
    let i = usize::from(sel & 0x7f);
    if sel & 0x80 == 0 {
        fs.insert(BASE[i % BASE.len()].0, body.to_vec());
    } else {
        fs.insert(EXTRA[i % EXTRA.len()], body.to_vec());
    }
    let mut opts = fleetc::driver::Options::new("2026-06-01".into());
    opts.budget.max_nodes = 20_000;
    opts.template_limits.fuel = 200_000;
    opts.template_limits.max_output_bytes = 1 << 20;
    if let Ok(p) = fleetc::driver::plan(&fs, &opts) {
        let _ = fleetc::driver::render_to(&fs, p, &opts, &fleetc::emit::write::Discard);
    }
});
