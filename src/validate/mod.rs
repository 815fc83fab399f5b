pub mod semantic;
