//! OpenAI Chat Completions wire types: what clients send to GaiaRouter and what it
//! answers, whatever the upstream provider. Unknown request fields are kept in
//! `extra` so they reach OpenAI-format upstreams untouched.

mod accumulate;
mod request;
mod response;
mod validate;

pub use accumulate::CompletionAccumulator;
pub use request::*;
pub use response::*;
pub use validate::{validate, GatewayInputError};
