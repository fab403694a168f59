//! The router between the API and the providers: which deployment serves a
//! request (`select`), what the process has learnt about each one (`health`), and
//! when a failure is worth another attempt (`retry`). The engine in
//! `crate::completion` drives them.

pub mod health;
pub mod retry;
pub mod select;
