//! GaiaRouter's read side: everything here is a projection of the event store and
//! can be rebuilt from it.

pub mod admin_views;
pub mod event_log;

pub use event_log::StoredEvent;
