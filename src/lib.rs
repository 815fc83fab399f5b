#![forbid(unsafe_code)]
pub mod diag;
pub mod emit;
pub mod load;
pub mod source;
pub mod validate;
