//! The router layer's configuration side: routes (model names mapped to
//! deployments) as the gateway holds them in memory, the named credentials their
//! deployments use, route definitions as clients write them, and seeding routes
//! from a file at start.

pub mod credentials;
pub mod input;
pub mod seed;
pub mod table;

pub use table::RouteTable;
