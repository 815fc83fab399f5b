//! fleetc: a GitOps compiler for Kubernetes fleets.
//!
//! The pipeline, one module per stage (ARCHITECTURE.md draws it):
//! `source` (files) → `load` (typed model with spans) → `validate` (every
//! check of the input) → `resolve` (targets, layering, provenance) →
//! `render` (templates, patches) → `accept` (each cluster's Kubernetes API)
//! → `admit` (each cluster's admission policies) → `emit` (output tree).
//! [`driver`] runs the stages for each use; `diff`, `explain`, `report`,
//! `promote` and `git` build on them. Below every stage: `diag`
//! (diagnostics), `yaml`, `kube` (Kubernetes knowledge), `memo` (answers
//! computed once across clusters) and `suggest`.
#![forbid(unsafe_code)]

pub mod accept;
pub mod admit;
pub mod diag;
pub mod diff;
pub mod driver;
pub mod emit;
pub mod explain;
pub mod git;
pub mod import;
pub mod load;
pub mod promote;
pub mod render;
pub mod report;
pub mod resolve;
pub mod scaffold;
pub mod source;
pub mod validate;

// The lower layer, below every stage.
pub mod date;
pub mod kube;
pub mod memo;
pub mod schema;
pub mod suggest;
pub mod yaml;
