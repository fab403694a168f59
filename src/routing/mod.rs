//! The router between the API and the providers.
//!
//! Configuration: routes (model names mapped to deployments) as the gateway holds
//! them in memory (`table`), the named credentials their deployments use
//! (`credentials`) and route definitions as clients write them (`input`).
//! Seeding routes from a file at start is an admin use case (`admin::routes_file`).
//!
//! Behaviour: which deployment serves a request (`select`), what the process has
//! learnt about each one (`health`), and when a failure is worth another attempt
//! (`retry`). The engine in `crate::completion` drives them.

pub mod credentials;
pub mod health;
pub mod input;
pub mod retry;
pub mod select;
pub mod table;

pub use table::RouteTable;
