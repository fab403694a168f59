//! Usage bookkeeping on the completion path: admission against budgets, rates
//! and requests in flight (with quota leases) and durable recording of every
//! `RequestCompleted` event through one group-commit writer.

pub mod process_lock;
pub mod quota;
pub mod recorder;
pub mod refusals;
