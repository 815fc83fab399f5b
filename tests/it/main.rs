//! Integration tests: the `fleetc` binary on real directories, checked by real consumers.
mod agents;
mod cases;
mod ci;
mod cli;
mod common;
mod crds;
mod diff;
mod explain;
mod git;
mod golden;
mod kustomize;
mod patches;
mod policies;
mod rollout;
mod schemas;
mod selection;
mod stream;
