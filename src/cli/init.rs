//! `fleetc init [DIR]`: write a new, minimal fleet (src/scaffold.rs) into
//! an empty or new directory.

use std::path::{Path, PathBuf};

use fleetc::diag::{Code, Diagnostic};
use fleetc::scaffold;

use crate::exit::{Exit, Failure};
use crate::Ctx;

#[derive(clap::Args)]
pub struct Args {
    /// The directory to create the fleet in: new, or empty (a `.git` in it is fine).
    #[arg(default_value = ".")]
    dir: PathBuf,
    /// The fleet's name (default: from the directory's name).
    #[arg(long)]
    name: Option<String>,
}

pub fn run(ctx: &Ctx, a: Args) -> Result<Exit, Failure> {
    let shown = a.dir.display().to_string();
    refuse_unless_empty(&a.dir, &shown)?;
    let name = match a.name {
        Some(n) => {
            if scaffold::fleet_name(&n) != n {
                return Err(Failure::usage(format!(
                    "`{n}` is not a fleet name: lower-case letters, digits and `-`, at most 63 (e.g. `{}`)",
                    scaffold::fleet_name(&n)
                )));
            }
            n
        }
        None => scaffold::fleet_name(&dir_name(&a.dir)),
    };
    let files = scaffold::files(&name);
    write_new(
        &a.dir,
        files
            .iter()
            .map(|(rel, text)| (rel.as_str(), text.as_bytes())),
    )?;
    ctx.ui.say(&format!(
        "created fleet `{name}` in {shown}: {} files (2 clusters, 1 group, 1 component, 1 placement)",
        files.len()
    ));
    crate::ui::stdout(&scaffold::next_steps(&shown))?;
    Ok(Exit::Success)
}

/// Write every file of a new fleet under `root`, or none: what this run
/// wrote is taken back when a write fails.
pub fn write_new<'f>(
    root: &Path,
    files: impl IntoIterator<Item = (&'f str, &'f [u8])>,
) -> Result<(), Failure> {
    let mut written: Vec<PathBuf> = Vec::new();
    for (rel, bytes) in files {
        let path = root.join(rel);
        let done = path
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::write(&path, bytes));
        if let Err(e) = done {
            for p in &written {
                let _ = std::fs::remove_file(p);
            }
            return Err(Failure::failed(Diagnostic::error(
                Code::Io,
                format!("cannot write {}: {e}", path.display()),
            )));
        }
        written.push(path);
    }
    Ok(())
}

/// A directory fleetc may write a new fleet into: missing, or with
/// nothing in it but a `.git`.
pub fn refuse_unless_empty(dir: &Path, shown: &str) -> Result<(), Failure> {
    let entries = match std::fs::read_dir(dir) {
        Ok(r) => r,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(Failure::failed(Diagnostic::error(
                Code::Io,
                format!("cannot read {shown}: {e}"),
            )))
        }
    };
    let mut found: Vec<String> = entries
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != ".git")
        .collect();
    if found.is_empty() {
        return Ok(());
    }
    found.sort();
    let more = if found.len() > 3 {
        format!(", and {} more", found.len() - 3)
    } else {
        String::new()
    };
    found.truncate(3);
    Err(Failure::invalid(
        Diagnostic::error(
            Code::OutputRefused,
            format!(
                "{shown} is not empty ({}{more}): fleetc writes a new fleet there and never overwrites files",
                found.join(", ")
            ),
        )
        .help("name a new or empty directory (`fleetc init my-fleet`, `fleetc import kustomize ... -o my-fleet`)"),
    ))
}

/// The last component of `dir`, made absolute first (`.` names the
/// current directory).
fn dir_name(dir: &Path) -> String {
    let abs = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    abs.components()
        .rfind(|c| !matches!(c, std::path::Component::CurDir))
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .unwrap_or_default()
}
