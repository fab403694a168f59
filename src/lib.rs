//! GaiaRouter: an event-sourced, OpenAI-compatible AI gateway.

pub mod admin;
pub mod app;
pub mod auth;
pub mod bodies;
pub mod cli;
pub mod completion;
pub mod config;
pub mod demo;
pub mod error;
pub mod gateway;
pub mod http;
pub mod observability;
pub mod postgres;
pub mod routing;
pub mod server;
pub mod state;
pub mod storage;
pub mod usage;
pub mod webhooks;
