//! How results reach the user: diagnostics on stderr in cargo's style, or
//! collected into one machine-readable document on stdout
//! (`--output-format json|sarif|github`).

use std::cell::RefCell;
use std::io::Write;

use clap::ValueEnum;
use fleetc::diag::{self, Diags};

/// `--output-format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Cargo-style text on stderr.
    Human,
    /// One JSON document on stdout (fleet-schema/diagnostics.schema.json).
    Json,
    /// SARIF 2.1.0 on stdout (GitHub code scanning).
    Sarif,
    /// GitHub Actions workflow commands on stdout (`::error file=…`).
    Github,
}

pub struct Ui {
    pub color: bool,
    /// Colour for results on stdout (diff text).
    pub color_stdout: bool,
    pub deny_warnings: bool,
    pub format: OutputFormat,
    /// Where the fleet's paths are, relative to the git work tree's root
    /// (`dir/` or empty), for SARIF and GitHub locations.
    pub prefix: RefCell<String>,
    /// Diagnostics kept for a machine-readable document.
    collected: RefCell<Diags>,
    /// stdout carries the command's own result (diff's report): no
    /// diagnostics document then.
    stdout_taken: std::cell::Cell<bool>,
    /// `--quiet`: no summary lines, no progress.
    quiet: bool,
    /// The progress display of a long run (stderr on a terminal, human
    /// output, not quiet), cleared before anything else is written.
    bar: Option<indicatif::ProgressBar>,
}

impl Ui {
    pub fn new(color: bool, color_stdout: bool, deny_warnings: bool, format: OutputFormat) -> Ui {
        Ui {
            color,
            color_stdout,
            deny_warnings,
            format,
            prefix: RefCell::new(String::new()),
            collected: RefCell::new(Diags::default()),
            stdout_taken: std::cell::Cell::new(false),
            quiet: false,
            bar: None,
        }
    }

    /// `--quiet`, and whether stderr is a terminal: a progress display
    /// only on a terminal, in human output, and not quiet.
    pub fn with(mut self, quiet: bool, terminal: bool) -> Ui {
        self.quiet = quiet;
        if terminal && !quiet && self.human() {
            let bar = indicatif::ProgressBar::with_draw_target(
                None,
                indicatif::ProgressDrawTarget::stderr_with_hz(8),
            );
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{msg:>10} {pos}/{len} clusters [{elapsed}] {wide_bar}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            self.bar = Some(bar);
        }
        self
    }

    /// What tells the progress display, when there is one.
    pub fn progress(&self) -> Option<fleetc::driver::Progress> {
        let bar = self.bar.clone()?;
        Some(fleetc::driver::Progress(std::sync::Arc::new(
            move |what: &str, done: usize, total: usize| {
                if bar.is_finished() {
                    return;
                }
                bar.set_length(total as u64);
                bar.set_position(done as u64);
                bar.set_message(what.to_string());
            },
        )))
    }

    /// Take the progress display off the terminal (for good).
    pub fn clear_progress(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }

    pub fn human(&self) -> bool {
        self.format == OutputFormat::Human
    }

    /// Report diagnostics; returns true when they fail the run (errors, or
    /// warnings under `--deny-warnings`).
    pub fn report(&self, diags: &Diags) -> bool {
        self.clear_progress();
        let errors = diags.error_count();
        let warnings = diags.warning_count();
        let failed = errors > 0 || (self.deny_warnings && warnings > 0);
        if !self.human() {
            self.collected.borrow_mut().extend(diags.clone());
            return failed;
        }
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(diags.render(self.color).as_bytes());
        if failed {
            let mut parts = Vec::new();
            if errors > 0 {
                parts.push(diag::plural(errors, "error", "errors"));
            }
            if warnings > 0 {
                parts.push(diag::plural(warnings, "warning", "warnings"));
            }
            let why = if errors == 0 {
                " (--deny-warnings)"
            } else {
                ""
            };
            let _ = writeln!(err, "error: aborting due to {}{why}", parts.join(" and "));
        }
        failed
    }

    /// A line for the user that is not a diagnostic (a summary, a path that
    /// differs): stdout for humans; stderr when stdout carries a document.
    pub fn say(&self, line: &str) {
        self.clear_progress();
        if self.quiet {
            return;
        }
        self.result(line);
    }

    /// A line of the command's result (a path `render --check` found
    /// different): written even under `--quiet`, where [`Ui::say`] writes.
    pub fn result(&self, line: &str) {
        self.clear_progress();
        let text = format!("{line}\n");
        // A summary line nobody reads any more (a closed pipe) is not a failure.
        let _ = if self.human() {
            std::io::stdout().lock().write_all(text.as_bytes())
        } else {
            std::io::stderr().lock().write_all(text.as_bytes())
        };
    }

    /// Locations in SARIF and GitHub documents are relative to the git work
    /// tree's root: record where the fleet repository `repo` lies in it.
    pub fn set_repo(&self, repo: &std::path::Path) {
        let Ok(abs) = repo.canonicalize() else {
            return;
        };
        let Some(root) = abs.ancestors().find(|a| a.join(".git").exists()) else {
            return;
        };
        let rel: Vec<String> = abs
            .strip_prefix(root)
            .map(|r| {
                r.components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        let mut prefix = rel.join("/");
        if !prefix.is_empty() {
            prefix.push('/');
        }
        *self.prefix.borrow_mut() = prefix;
    }

    /// The command's own result goes to stdout (diff's report), so the
    /// diagnostics document does not.
    pub fn take_stdout(&self) {
        self.stdout_taken.set(true);
    }

    /// At exit: the machine-readable document of everything reported.
    pub fn finish(&self) {
        self.clear_progress();
        if self.stdout_taken.get() {
            return;
        }
        let diags = std::mem::take(&mut *self.collected.borrow_mut());
        let prefix = self.prefix.borrow();
        let doc = match self.format {
            OutputFormat::Human => return,
            OutputFormat::Json => diag::format::json(&diags),
            OutputFormat::Sarif => diag::format::sarif(&diags, &prefix),
            OutputFormat::Github => diag::format::github(&diags, &prefix),
        };
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(doc.as_bytes()).and_then(|()| out.flush());
    }
}

/// Write a command's result to stdout. A reader that went away (`| head`)
/// is not an error: the command still exits with its own status. Any other
/// write error is exit 3.
pub fn stdout(text: &str) -> Result<(), crate::exit::Failure> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(crate::exit::Failure::failed(
            fleetc::diag::Diagnostic::error(
                fleetc::diag::Code::Io,
                format!("cannot write to stdout: {e}"),
            ),
        )),
        _ => Ok(()),
    }
}
