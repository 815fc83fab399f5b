//! `cargo xtask test [ARGS...]`: the README's test command. Finds or installs
//! what the tests need outside Rust, then runs `cargo test --workspace
//! --locked ARGS...` with their paths in the environment.
//!
//! Everything it installs goes to `<target>/test-tools/` (`CARGO_TARGET_DIR`
//! or `target/`), never to the user's home:
//! - `venv/`: a Python venv with the tools pinned in
//!   `xtask/test-tools/requirements.txt` (check-jsonschema for
//!   tests/it/ci.rs, kubernetes-validate for the Kubernetes API schemas);
//! - `npm/`: `npm ci` of `xtask/test-tools/package.json` and its lock
//!   (`@microsoft/sarif-multitool`, the SARIF validator).
//!
//! Each is reinstalled only when its pinned list changed (a marker file holds
//! the list it was installed from). Chromium (the report page test) is taken
//! from PATH, or installed with Debian's apt-get when running as root;
//! kubectl with kustomize v5 and git must be on PATH.
//!
//! The tests read `CHECK_JSONSCHEMA`, `KUBERNETES_VALIDATE`,
//! `SARIF_MULTITOOL`, `CHROMIUM` and `KUBECTL`, falling back to PATH, and
//! fail with a message that names this command when a tool is missing.
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};

use crate::root;

/// `<target>/test-tools`, where cargo puts its own build output.
pub(crate) fn tools_dir() -> PathBuf {
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) if Path::new(&d).is_absolute() => PathBuf::from(d),
        Some(d) => std::env::current_dir()
            .map(|c| c.join(&d))
            .unwrap_or_else(|_| PathBuf::from(d)),
        None => root().join("target"),
    };
    target.join("test-tools")
}

pub(crate) struct Tool {
    name: &'static str,
    /// "found" or "installed" (with the seconds it took).
    how: String,
    version: String,
    path: PathBuf,
}

impl Tool {
    fn print(&self) {
        println!(
            "  {:<20} {:<16} {:<32} {}",
            self.name,
            self.how,
            self.version,
            self.path.display()
        );
    }
}

fn installed(start: Instant) -> String {
    format!("installed ({:.0} s)", start.elapsed().as_secs_f64())
}

/// The first executable called `name` on PATH.
fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        p.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    }
    #[cfg(not(unix))]
    {
        p.is_file()
    }
}

/// stdout and stderr of a command that must succeed.
fn run(cmd: &mut Command, what: &str) -> Result<String> {
    let o = cmd
        .output()
        .with_context(|| format!("{what}: could not start {:?}", cmd.get_program()))?;
    let out = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    if !o.status.success() {
        bail!("{what} failed ({}):\n{out}", o.status);
    }
    Ok(out)
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// The file's content, or "" when it does not exist.
fn read_or_empty(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

fn kubectl() -> Result<Tool> {
    const WHY: &str = "the tests build every rendered cluster with `kubectl kustomize` \
        (tests/it/kustomize.rs) and need kustomize v5, which kubectl 1.27 and later embed; \
        install kubectl (for example from the Kubernetes project's packages) and rerun \
        `cargo xtask test` (or set KUBECTL to its path)";
    let path = match std::env::var_os("KUBECTL") {
        Some(k) => PathBuf::from(k),
        None => on_path("kubectl").with_context(|| format!("kubectl is not on PATH: {WHY}"))?,
    };
    let out = run(
        Command::new(&path).args(["version", "--client"]),
        "kubectl version --client",
    )
    .with_context(|| WHY)?;
    let field = |prefix: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(prefix))
            .map(|v| v.trim().to_string())
    };
    let kustomize = field("Kustomize Version:").unwrap_or_default();
    if !kustomize.starts_with("v5.") {
        bail!(
            "{} has kustomize {:?}, not v5: {WHY}",
            path.display(),
            kustomize
        );
    }
    Ok(Tool {
        name: "kubectl",
        how: "found".into(),
        version: format!(
            "{} (kustomize {kustomize})",
            field("Client Version:").unwrap_or_default()
        ),
        path,
    })
}

fn git() -> Result<Tool> {
    let path = on_path("git").context(
        "git is not on PATH: the --rev, diff and publish tests build real repositories with it",
    )?;
    let v = run(Command::new(&path).arg("--version"), "git --version")?;
    Ok(Tool {
        name: "git",
        how: "found".into(),
        version: v.trim().trim_start_matches("git version ").to_string(),
        path,
    })
}

/// The version in `<site-packages>/<dist>-<version>.dist-info` of the venv.
fn dist_version(venv: &Path, dist: &str) -> Option<String> {
    let lib = venv.join("lib");
    for py in std::fs::read_dir(lib).ok()?.flatten() {
        let sp = py.path().join("site-packages");
        for e in std::fs::read_dir(sp).into_iter().flatten().flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if let Some(v) = n
                .strip_prefix(&format!("{dist}-"))
                .and_then(|r| r.strip_suffix(".dist-info"))
            {
                return Some(v.to_string());
            }
        }
    }
    None
}

/// check-jsonschema and kubernetes-validate in `<tools>/venv`.
pub(crate) fn python_tools(tools: &Path) -> Result<Vec<Tool>> {
    let req_file = root().join("xtask/test-tools/requirements.txt");
    let req = std::fs::read_to_string(&req_file)
        .with_context(|| format!("reading {}", req_file.display()))?;
    let venv = tools.join("venv");
    let marker = venv.join(".fleetc-requirements.txt");
    let bin = venv.join("bin");
    let names = [
        ("check-jsonschema", "check_jsonschema"),
        ("kubernetes-validate", "kubernetes_validate"),
    ];
    let fresh =
        read_or_empty(&marker) == req && names.iter().all(|(n, _)| is_executable(&bin.join(n)));
    let start = Instant::now();
    if !fresh {
        if venv.exists() {
            std::fs::remove_dir_all(&venv)
                .with_context(|| format!("removing {}", venv.display()))?;
        }
        let python = on_path("python3").context(
            "python3 is not on PATH: check-jsonschema (tests/it/ci.rs) and kubernetes-validate \
             are installed into a Python venv; install python3 with its venv module \
             (Debian: apt-get install python3-venv) and rerun `cargo xtask test`",
        )?;
        run(
            Command::new(&python).arg("-m").arg("venv").arg(&venv),
            "python3 -m venv",
        )
        .context("creating the test tools' venv needs python3's venv module (Debian: apt-get install python3-venv)")?;
        run(
            Command::new(bin.join("python"))
                .args([
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                    "--no-input",
                    "-r",
                ])
                .arg(&req_file),
            "pip install -r xtask/test-tools/requirements.txt",
        )?;
        std::fs::write(&marker, &req)?;
    }
    let how = if fresh {
        "found".to_string()
    } else {
        installed(start)
    };
    names
        .iter()
        .map(|(name, dist)| {
            Ok(Tool {
                name,
                how: how.clone(),
                version: dist_version(&venv, dist)
                    .with_context(|| format!("no {dist} in {}", venv.display()))?,
                path: bin.join(name),
            })
        })
        .collect()
}

/// The SARIF multitool in `<tools>/npm`.
fn npm_tools(tools: &Path) -> Result<Tool> {
    let src = root().join("xtask/test-tools");
    let dir = tools.join("npm");
    let lock = std::fs::read_to_string(src.join("package-lock.json"))?;
    let manifest = std::fs::read_to_string(src.join("package.json"))?;
    let marker = dir.join(".fleetc-package-lock.json");
    let bin = dir.join("node_modules/.bin/sarif-multitool");
    let pkg = dir.join("node_modules/@microsoft/sarif-multitool/package.json");
    let fresh = read_or_empty(&marker) == lock
        && read_or_empty(&dir.join("package.json")) == manifest
        && is_executable(&bin);
    let start = Instant::now();
    if !fresh {
        let npm = on_path("npm").context(
            "npm is not on PATH: the SARIF multitool (@microsoft/sarif-multitool) is installed \
             from the npm registry; install Node.js and npm (Debian: apt-get install nodejs npm) \
             and rerun `cargo xtask test`",
        )?;
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join("package.json"), &manifest)?;
        std::fs::write(dir.join("package-lock.json"), &lock)?;
        let _ = std::fs::remove_file(&marker);
        run(
            Command::new(npm)
                .args([
                    "ci",
                    "--no-audit",
                    "--no-fund",
                    "--loglevel=error",
                    "--prefix",
                ])
                .arg(&dir),
            "npm ci (xtask/test-tools/package-lock.json)",
        )?;
        // The platform package's postinstall only sets the execute bit on its
        // .NET binary; npm 11 does not run install scripts unless approved.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let platform = match std::env::consts::OS {
                "macos" => "darwin",
                os => os,
            };
            let exe = dir.join(format!(
                "node_modules/@microsoft/sarif-multitool-{platform}/Sarif.Multitool"
            ));
            if exe.is_file() {
                let mut perm = exe.metadata()?.permissions();
                perm.set_mode(perm.mode() | 0o755);
                std::fs::set_permissions(&exe, perm)?;
            }
        }
        std::fs::write(&marker, &lock)?;
    }
    let meta: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&pkg)?)?;
    Ok(Tool {
        name: "sarif-multitool",
        how: if fresh {
            "found".into()
        } else {
            installed(start)
        },
        version: meta["version"].as_str().unwrap_or("?").to_string(),
        path: bin,
    })
}

fn chromium() -> Result<Tool> {
    const NAMES: [&str; 3] = ["chromium", "chromium-browser", "google-chrome"];
    let find = || {
        std::env::var_os("CHROMIUM")
            .map(PathBuf::from)
            .filter(|p| is_executable(p))
            .or_else(|| NAMES.iter().find_map(|n| on_path(n)))
    };
    let start = Instant::now();
    let (path, how) = match find() {
        Some(p) => (p, "found".to_string()),
        None => {
            const WHY: &str = "headless Chromium is needed by the report page test \
                (tests/it/report.rs opens the page `fleetc report --format html` writes)";
            if !(is_root() && on_path("apt-get").is_some()) {
                bail!(
                    "none of {} is on PATH: {WHY}. Install Debian's `chromium` package \
                     (sudo apt-get install chromium) or another Chromium build, put it on PATH \
                     or set CHROMIUM to it, and rerun `cargo xtask test`",
                    NAMES.join(", ")
                );
            }
            println!("  chromium: not on PATH; installing Debian's `chromium` ({WHY})");
            run(
                Command::new("apt-get").args(["update", "-qq"]),
                "apt-get update",
            )?;
            run(
                Command::new("apt-get")
                    .args([
                        "install",
                        "-y",
                        "-qq",
                        "--no-install-recommends",
                        "chromium",
                    ])
                    .env("DEBIAN_FRONTEND", "noninteractive"),
                "apt-get install chromium",
            )?;
            let p = find().context("apt-get installed chromium, but it is not on PATH")?;
            (p, installed(start))
        }
    };
    let v = run(Command::new(&path).arg("--version"), "chromium --version")?;
    Ok(Tool {
        name: "chromium",
        how,
        version: v
            .lines()
            .next()
            .unwrap_or_default()
            .trim()
            .trim_start_matches("Chromium ")
            .split(" built on ")
            .next()
            .unwrap_or_default()
            .to_string(),
        path,
    })
}

pub(crate) fn test(args: &[String]) -> Result<()> {
    let tools = tools_dir();
    std::fs::create_dir_all(&tools).with_context(|| format!("creating {}", tools.display()))?;
    println!("test tools (installed into {}):", tools.display());
    let mut found = vec![kubectl()?, git()?];
    found.extend(python_tools(&tools)?);
    found.push(npm_tools(&tools)?);
    found.push(chromium()?);
    for t in &found {
        t.print();
    }
    let path_of = |name: &str| {
        found
            .iter()
            .find(|t| t.name == name)
            .map(|t| t.path.clone())
            .expect("every tool is located")
    };
    let mut path = vec![tools.join("venv/bin"), tools.join("npm/node_modules/.bin")];
    if let Some(p) = std::env::var_os("PATH") {
        path.extend(std::env::split_paths(&p));
    }
    let path: OsString = std::env::join_paths(path)?;

    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["test", "--workspace", "--locked"])
        .args(args)
        .current_dir(root())
        .env("PATH", path)
        .env("CHECK_JSONSCHEMA", path_of("check-jsonschema"))
        .env("KUBERNETES_VALIDATE", path_of("kubernetes-validate"))
        .env("SARIF_MULTITOOL", path_of("sarif-multitool"))
        .env("CHROMIUM", path_of("chromium"))
        .env("KUBECTL", path_of("kubectl"));
    println!(
        "running: cargo test --workspace --locked {}",
        args.join(" ")
    );
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        let err = cmd.exec();
        Err(err).context("running cargo test")
    }
    #[cfg(not(unix))]
    {
        let status = cmd.status().context("running cargo test")?;
        std::process::exit(status.code().unwrap_or(1));
    }
}
