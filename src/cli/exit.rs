//! The one exit path: every command returns `Result<Exit, Failure>`, and
//! [`code`] maps it to the process exit code in one place.
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success; no differences |
//! | 1 | differences (`render --check`, `diff`) |
//! | 2 | invalid input, usage, or a refused operation |
//! | 3 | any other failure (I/O, git, a revision that does not render in `diff`) |

use std::process::ExitCode;

use fleetc::diag::{Code, Diagnostic, Diags};
use fleetc::emit::write::WriteError;
use fleetc::promote::PromoteError;

/// How a command that ran to its end came out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// Exit 0.
    Success,
    /// Exit 1: `render --check` found a stale tree, `diff` found changes.
    Differences,
}

/// Why a command stopped: its diagnostics (already reported, or to report)
/// and whether the input was at fault.
#[derive(Debug)]
pub struct Failure {
    pub kind: Kind,
    /// Diagnostics not yet shown to the user.
    pub diags: Diags,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Exit 2: invalid input, usage, a refused operation.
    Invalid,
    /// Exit 3: I/O, git, anything else.
    Failed,
}

impl Failure {
    /// Invalid input whose diagnostics were already reported.
    pub fn reported() -> Failure {
        Failure {
            kind: Kind::Invalid,
            diags: Diags::default(),
        }
    }

    pub fn invalid(d: Diagnostic) -> Failure {
        Failure::one(Kind::Invalid, d)
    }

    pub fn failed(d: Diagnostic) -> Failure {
        Failure::one(Kind::Failed, d)
    }

    /// A usage error (a flag's value, a missing argument): exit 2.
    pub fn usage(message: impl Into<String>) -> Failure {
        Failure::invalid(Diagnostic::error(Code::Usage, message))
    }

    fn one(kind: Kind, d: Diagnostic) -> Failure {
        let mut diags = Diags::default();
        diags.push(d);
        Failure { kind, diags }
    }

    /// The same failure, reported as exit 3 (e.g. a diff side that does not render).
    pub fn into_failed(self) -> Failure {
        Failure {
            kind: Kind::Failed,
            ..self
        }
    }
}

impl From<WriteError> for Failure {
    fn from(e: WriteError) -> Failure {
        match e {
            WriteError::Refused(m) => Failure::invalid(
                Diagnostic::error(Code::OutputRefused, m)
                    .help("choose a new directory for -o, or one fleetc rendered before"),
            ),
            WriteError::Io(m) => Failure::failed(Diagnostic::error(Code::Io, m)),
        }
    }
}

impl From<fleetc::git::Failure> for Failure {
    fn from(f: fleetc::git::Failure) -> Failure {
        match f {
            fleetc::git::Failure::Invalid(diags) => Failure {
                kind: Kind::Invalid,
                diags,
            },
            fleetc::git::Failure::Other(diags) => Failure {
                kind: Kind::Failed,
                diags,
            },
        }
    }
}

impl From<PromoteError> for Failure {
    fn from(e: PromoteError) -> Failure {
        match e {
            PromoteError::Invalid(diags) => Failure {
                kind: Kind::Invalid,
                diags,
            },
            PromoteError::Refused(m) => {
                Failure::invalid(Diagnostic::error(Code::PromoteRefused, m))
            }
            PromoteError::Io(m) => Failure::failed(Diagnostic::error(Code::Io, m)),
        }
    }
}

/// The process exit code of a command's result.
pub fn code(r: &Result<Exit, Failure>) -> ExitCode {
    ExitCode::from(match r {
        Ok(Exit::Success) => 0,
        Ok(Exit::Differences) => 1,
        Err(Failure {
            kind: Kind::Invalid,
            ..
        }) => 2,
        Err(Failure {
            kind: Kind::Failed, ..
        }) => 3,
    })
}
