//! Integration tests: the `fleetc` binary on real directories, checked by real consumers.
// Tests locate external tools through the environment (cargo xtask test sets it).
#![allow(clippy::disallowed_methods)]

mod agent_settings;
mod agents;
pub mod cases;
mod ci;
mod cli;
mod common;
mod crds;
mod diagnostics;
mod diff;
mod docs;
mod explain;
mod git;
mod golden;
mod hostile;
mod import;
mod incremental;
mod independence;
mod init;
mod k8s_schemas;
mod kustomize;
mod migration;
mod namespaces;
mod patch_files;
mod patches;
mod policies;
mod publish;
mod report;
mod rollout;
mod schemas;
mod selection;
mod shard;
mod sharing;
mod stream;
