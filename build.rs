//! Migrations are embedded by `sqlx::migrate!` at compile time: rebuild when they change.
#![allow(clippy::print_stdout)]

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
