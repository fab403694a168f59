//! Migrations are embedded by `sqlx::migrate!` at compile time, the dashboard
//! (`frontend/dist`) by `rust-embed`: rebuild when either changes.
#![allow(clippy::print_stdout)]

fn main() {
    println!("cargo:rerun-if-changed=migrations");
    if std::path::Path::new("frontend/dist/index.html").exists() {
        println!("cargo:rerun-if-changed=frontend/dist");
    } else {
        // Watching `frontend` notices the dashboard's first build (`npm run build`),
        // which a watch on the missing `frontend/dist` would not.
        println!("cargo:rerun-if-changed=frontend");
        println!(
            "cargo:warning=frontend/dist is not built: this binary embeds no dashboard \
             (run `npm run build` in frontend/ first, or set GAIAROUTER_STATIC_DIR)"
        );
    }
}
