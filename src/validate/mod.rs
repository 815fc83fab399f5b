pub mod schema;
pub mod semantic;
