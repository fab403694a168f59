//! Usage bookkeeping on the completion path: admission against monthly limits
//! (with reservations for requests in flight) and durable recording of every
//! `RequestCompleted` event through one group-commit writer.

pub mod admission;
pub mod process_lock;
pub mod recorder;

pub use gaiarouter_domain::request::month_of;
