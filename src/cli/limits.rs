//! `--limit NAME=N`: the one list of budgets a user can raise.

use fleetc::driver::Options;
use fleetc::render::template::TemplateLimits;
use fleetc::source;
use fleetc::yaml::Budget;

/// The budgets every command runs under.
pub struct Budgets {
    pub input: source::Limits,
    pub cluster_units: usize,
    pub yaml: Budget,
    pub template: TemplateLimits,
    pub admission_cost: u64,
}

/// One budget: its `--limit` name, what it bounds, and how it is set.
pub struct Limit {
    pub name: &'static str,
    pub what: &'static str,
    set: fn(&mut Budgets, u64),
}

fn size(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

/// Every budget, in the order `--help` and SECURITY.md list them.
pub const LIMITS: &[Limit] = &[
    Limit {
        name: "file-bytes",
        what: "bytes of one input file",
        set: |b, n| b.input.max_file_bytes = n,
    },
    Limit {
        name: "total-bytes",
        what: "bytes of all input files together",
        set: |b, n| b.input.max_total_bytes = n,
    },
    Limit {
        name: "yaml-depth",
        what: "nesting depth of a YAML document",
        set: |b, n| b.yaml.max_depth = size(n),
    },
    Limit {
        name: "yaml-nodes",
        what: "YAML nodes in one file, aliases expanded",
        set: |b, n| b.yaml.max_nodes = size(n),
    },
    Limit {
        name: "yaml-aliases",
        what: "YAML aliases in one file",
        set: |b, n| b.yaml.max_aliases = size(n),
    },
    Limit {
        name: "yaml-documents",
        what: "YAML documents in one file",
        set: |b, n| b.yaml.max_documents = size(n),
    },
    Limit {
        name: "template-fuel",
        what: "instructions one template render may run",
        set: |b, n| b.template.fuel = n,
    },
    Limit {
        name: "template-recursion",
        what: "nesting of includes, macros and calls",
        set: |b, n| b.template.recursion = size(n),
    },
    Limit {
        name: "template-output-bytes",
        what: "bytes one template render may produce",
        set: |b, n| b.template.max_output_bytes = size(n),
    },
    Limit {
        name: "admission-cost",
        what: "estimated cost of one admission policy expression",
        set: |b, n| b.admission_cost = n,
    },
    Limit {
        name: "cluster-units",
        what: "clusters × components and policies",
        set: |b, n| b.cluster_units = size(n),
    },
];

/// The names, comma-separated.
pub fn names() -> String {
    LIMITS.iter().map(|l| l.name).collect::<Vec<_>>().join(", ")
}

/// `--limit`'s long help: every budget and what it bounds.
pub fn long_help() -> String {
    let mut s = String::from("Set a budget (repeatable; the last setting of a name wins):");
    for l in LIMITS {
        s.push_str(&format!("\n  {:<22} {}", l.name, l.what));
    }
    s
}

/// `--limit`'s help text.
pub fn help() -> String {
    format!("Set a budget (repeatable): {}", names())
}

/// The defaults, with `--max-file-size` and then each `--limit NAME=N` (in
/// order; the last of a name wins) applied.
pub fn budgets(file_bytes: u64, settings: &[String]) -> Result<Budgets, String> {
    let mut b = Budgets {
        input: source::Limits {
            max_file_bytes: file_bytes,
            ..Default::default()
        },
        cluster_units: Options::MAX_CLUSTER_UNITS,
        yaml: Budget::default(),
        template: TemplateLimits::default(),
        admission_cost: Options::ADMISSION_COST,
    };
    for s in settings {
        let Some((name, value)) = s.split_once('=') else {
            return Err(format!("--limit {s}: expected NAME=N (names: {})", names()));
        };
        let n: u64 = value
            .trim()
            .replace('_', "")
            .parse()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| format!("--limit {s}: `{value}` is not a whole number above 0"))?;
        let name = name.trim();
        let Some(limit) = LIMITS.iter().find(|l| l.name == name) else {
            let all: Vec<String> = LIMITS.iter().map(|l| l.name.to_string()).collect();
            let hint = fleetc::suggest::did_you_mean(name, &all)
                .map(|n| format!("; did you mean `{n}`?"))
                .unwrap_or_default();
            return Err(format!(
                "--limit {s}: unknown budget `{name}`{hint} (names: {})",
                names()
            ));
        };
        (limit.set)(&mut b, n);
    }
    Ok(b)
}
