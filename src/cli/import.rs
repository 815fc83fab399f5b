//! `fleetc import kustomize OVERLAY... -o FLEET`: a kustomize layout as a
//! new fleet (src/import/). The layout is read from the file system here;
//! the new fleet is written only when all of it converts, then validated
//! like any fleet.

use std::path::{Path, PathBuf};

use fleetc::diag::plural;
use fleetc::driver::Options;
use fleetc::emit::write;
use fleetc::import::{self, Overlay};

use crate::exit::{Exit, Failure};
use crate::{input, Ctx};

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    from: From,
}

#[derive(clap::Subcommand)]
enum From {
    /// Kustomize overlays (directories `kubectl kustomize` builds): each one
    /// becomes a cluster, the bases they share become components.
    Kustomize(KustomizeArgs),
}

#[derive(clap::Args)]
pub struct KustomizeArgs {
    /// Overlay directories; `NAME=DIR` names the cluster (default: the directory's name).
    #[arg(required = true, value_name = "OVERLAY")]
    overlays: Vec<String>,
    /// The new fleet's directory: new, or empty.
    #[arg(short, long, value_name = "FLEET")]
    output: PathBuf,
    /// The Kubernetes version of the clusters (the Fleet's default; set each cluster's later).
    #[arg(long, value_name = "VERSION", default_value = "1.31")]
    kubernetes_version: String,
    /// The git URL the agents will read the rendered branch from: the fleet
    /// renders for Flux (without it, as plain manifests).
    #[arg(long, value_name = "URL")]
    repository: Option<String>,
}

/// The layout on the file system, paths relative to the working
/// directory; no file larger than `max_bytes` is read (`--limit file-bytes`).
struct Fs {
    max_bytes: u64,
}

impl import::Tree for Fs {
    fn read(&self, path: &str) -> Result<Vec<u8>, String> {
        use std::io::Read as _;
        let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
        let mut bytes = Vec::new();
        file.take(self.max_bytes + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| e.to_string())?;
        if bytes.len() as u64 > self.max_bytes {
            return Err(format!(
                "it is larger than {} bytes (--limit file-bytes)",
                self.max_bytes
            ));
        }
        Ok(bytes)
    }
    fn is_dir(&self, path: &str) -> bool {
        Path::new(path).is_dir()
    }
    fn is_file(&self, path: &str) -> bool {
        Path::new(path).is_file()
    }
}

pub fn run(ctx: &Ctx, a: Args) -> Result<Exit, Failure> {
    let From::Kustomize(a) = a.from;
    let shown = a.output.display().to_string();
    crate::init::refuse_unless_empty(&a.output, &shown)?;
    if fleetc::kube::api::minor_of(&a.kubernetes_version).is_none() {
        return Err(Failure::usage(format!(
            "`{}` is not a Kubernetes version (e.g. 1.31 or 1.31.2)",
            a.kubernetes_version
        )));
    }
    let overlays = overlays_of(&a.overlays)?;
    let fs = Fs {
        max_bytes: ctx.budgets.input.max_file_bytes,
    };
    let layout = import::read(&fs, &overlays).map_err(|diags| Failure {
        kind: crate::exit::Kind::Invalid,
        diags,
    })?;
    let opts = import::Options {
        fleet_name: fleetc::scaffold::fleet_name(&dir_name(&a.output)),
        kubernetes_version: a.kubernetes_version.clone(),
        repository: a.repository.clone(),
    };
    let shown_overlays: Vec<String> = overlays.iter().map(|o| o.dir.clone()).collect();
    let files = import::fleet::files(&layout, &opts, &shown_overlays);
    crate::init::write_new(
        &a.output,
        files.iter().map(|(p, b)| (p.as_str(), b.as_slice())),
    )?;
    let patches = files.keys().filter(|p| p.starts_with("patches/")).count();
    ctx.ui.say(&format!(
        "imported {} into {shown}: {}, {}, {}",
        plural(overlays.len(), "overlay", "overlays"),
        plural(layout.clusters.len(), "cluster", "clusters"),
        plural(layout.components.len(), "component", "components"),
        plural(patches, "patch file", "patch files"),
    ));
    // The new fleet is a fleet like any other: check it now.
    let vopts = Options {
        tree: false,
        ..ctx.options()
    };
    let checked = input::plan(ctx, &a.output, None, vopts).and_then(|(fs, planned, vopts)| {
        input::render_to(ctx, fs, planned, &vopts, &write::Discard, None)
    });
    match checked {
        Ok(_) => {
            crate::ui::stdout(&format!(
                "the new fleet validates. Compare each cluster with its overlay:\n  fleetc render {shown} -o rendered --format plain\n  kubectl kustomize OVERLAY   # the same objects as rendered/clusters/<name>/, fleetc's labels aside\n"
            ))?;
            Ok(Exit::Success)
        }
        Err(f) => {
            ctx.ui.say(&format!(
                "the fleet was written to {shown}, and does not validate yet: fix what is reported, then run `fleetc validate {shown}`"
            ));
            Err(f)
        }
    }
}

/// The overlays as given: `DIR` or `NAME=DIR`, a NAME being a cluster name.
fn overlays_of(args: &[String]) -> Result<Vec<Overlay>, Failure> {
    let mut out = Vec::new();
    for o in args {
        let (name, dir) = match o.split_once('=') {
            Some((name, dir)) => (Some(name.to_string()), dir),
            None => (None, o.as_str()),
        };
        if let Some(n) = &name {
            if import::label_of(n) != *n {
                return Err(Failure::usage(format!(
                    "`{n}` is not a cluster name: lower-case letters, digits and `-` (e.g. `{}`)",
                    import::label_of(n)
                )));
            }
        }
        out.push(Overlay {
            name,
            dir: import::normalize(dir),
        });
    }
    Ok(out)
}

/// The last component of `dir`, made absolute first.
fn dir_name(dir: &Path) -> String {
    let abs = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    abs.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}
