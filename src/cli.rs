//! The command line: `serve` (default), `migrate`, `operators ...`, `projections ...`, `demo seed`.

pub mod operators;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "gaiarouter", version, about = "Event-sourced OpenAI-compatible AI gateway")]
pub struct Cli {
    /// A TOML configuration file (environment variables override it).
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the API and the dashboard (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Manage dashboard operators (`operator` works too).
    #[command(subcommand, name = "operators", alias = "operator")]
    Operator(OperatorCommand),
    /// Read models rebuilt from the event log.
    #[command(subcommand)]
    Projections(ProjectionsCommand),
    /// Demo data for a first look at the dashboard.
    #[command(subcommand)]
    Demo(DemoCommand),
    /// The event store: archive old months of requests.
    #[command(subcommand)]
    Events(EventsCommand),
}

#[derive(Debug, Subcommand)]
pub enum DemoCommand {
    /// Create three demo organizations with their keys and record `--days` days of
    /// realistic traffic through the real recording path (the server's projectors
    /// pick it up; a second run adds more traffic to the same organizations).
    Seed {
        #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=366))]
        days: u32,
        /// Served requests on an average weekday (weekends are quieter, traffic grows).
        #[arg(long, default_value_t = 1_500, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
        requests_per_day: u32,
        /// The same seed gives the same traffic.
        #[arg(long, default_value_t = 42)]
        seed: u64,
    },
}

#[derive(Debug, Subcommand)]
pub enum EventsCommand {
    /// Move the `Request` events of every month before YYYY-MM (never the current
    /// month) to compressed files, then drop their partitions. Admin events stay;
    /// rollups and counters are untouched; rebuilds replay the files.
    Archive {
        /// The first month kept, YYYY-MM.
        #[arg(long)]
        before: String,
        /// Where the files go; default `<data_dir>/archive`.
        #[arg(long)]
        dir: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ProjectionsCommand {
    /// Rebuild a projection (or all) by replaying the event log. If a server is
    /// running, it does the rebuild and this waits for it.
    Rebuild {
        /// `usage_rollups`, `monthly_usage`, `request_log` or `webhook_outbox` (which keeps what it queued).
        name: Option<String>,
        #[arg(long, conflicts_with = "name")]
        all: bool,
    },
    /// Position, lag and state of every projection.
    Status,
}

/// Every change is an event in the audit trail, by the actor `system`/`cli`.
#[derive(Debug, Subcommand)]
pub enum OperatorCommand {
    /// List operators (id, username, status).
    List,
    /// Create an operator; the password comes from GAIAROUTER_OPERATOR_PASSWORD,
    /// else a random one is generated and shown once.
    Create {
        #[arg(long)]
        username: String,
    },
    /// Disable an operator (ends its sessions); not the last active one.
    Disable { username: String },
    /// Enable a disabled operator.
    Enable { username: String },
    /// Delete an operator (ends its sessions, frees the username); not the last active one.
    Delete { username: String },
    /// Set an operator's password (ends its sessions); from GAIAROUTER_OPERATOR_PASSWORD,
    /// else a random one is generated and shown once.
    SetPassword { username: String },
    /// End every session of an operator.
    EndSessions { username: String },
}

/// Shows a one-time secret on the terminal (stderr), deliberately not through the
/// log, so it never lands in log files.
#[allow(clippy::print_stderr)]
pub fn show_once(message: &str) {
    eprintln!("\n==================== GaiaRouter ====================\n{message}\n====================================================\n");
}

/// Prints a command's result on stdout.
#[allow(clippy::print_stdout)]
pub fn output(message: &str) {
    println!("{message}");
}
