//! Seeding routes from a file at start (`GAIAROUTER_ROUTES_FILE`): TOML with
//! `[[routes]]` tables, or JSON (a list, or `{"routes": [...]}`), each entry
//! shaped like the body of `POST /v1/routes`. Routes whose name is not live yet
//! are created as events by the actor `system/routes-file`; existing ones are left
//! as they are (the admin API owns them from then on), so a restart changes nothing.

use std::path::Path;

use serde::Deserialize;

use super::{Actor, AdminError, AdminService};
use crate::gateway::ModelRegistry;
use crate::routing::input::RouteInput;

pub const ACTOR: &str = "routes-file";

#[derive(Deserialize)]
#[serde(untagged)]
enum RoutesFile {
    List(Vec<RouteInput>),
    Table { routes: Vec<RouteInput> },
}

#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error("cannot read routes file {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("invalid routes file {path}: {message}")]
    Parse { path: String, message: String },
    #[error("route `{name}` in the routes file is refused: {message} ({param})")]
    Refused { name: String, param: String, message: String },
}

/// Parses a routes file (JSON when it ends in `.json`, else TOML).
pub fn parse(path: &Path) -> Result<Vec<RouteInput>, SeedError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| SeedError::Read { path: shown.clone(), source })?;
    let parsed: Result<RoutesFile, String> = if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("json")) {
        serde_json::from_str(&text).map_err(|e| e.to_string())
    } else {
        toml::from_str(&text).map_err(|e| e.to_string())
    };
    match parsed.map_err(|message| SeedError::Parse { path: shown, message })? {
        RoutesFile::List(routes) | RoutesFile::Table { routes } => Ok(routes),
    }
}

/// Creates the file's routes that do not exist yet; answers how many were created.
/// Routes may name each other as fallbacks in any order: creation repeats in passes
/// until every route whose fallbacks exist has been made.
pub async fn seed(admin: &AdminService, registry: &ModelRegistry, path: &Path) -> Result<usize, SeedError> {
    let actor = Actor::system(ACTOR);
    let mut pending = Vec::new();
    for input in parse(path)? {
        let spec = input.to_spec().map_err(|e| SeedError::Refused {
            name: input.name.clone(),
            param: e.param,
            message: e.message,
        })?;
        let exists = admin.route_id_by_name(&spec.name).await.map_err(|e| refused(&spec.name, e))?;
        if exists.is_none() {
            pending.push(spec);
        }
    }
    let mut created = 0;
    while !pending.is_empty() {
        let mut waiting = Vec::new();
        let mut last_error = None;
        let names: Vec<String> = pending.iter().map(|s| s.name.clone()).collect();
        for spec in pending {
            match admin.create_route(spec.clone(), registry, &actor).await {
                Ok(_) => created += 1,
                // Its fallback is later in the file: try again next pass.
                Err(error @ AdminError::Invalid { code: "unknown_fallback", .. })
                    if spec.fallbacks.iter().any(|f| names.contains(f)) =>
                {
                    last_error = Some(refused(&spec.name, error));
                    waiting.push(spec);
                }
                Err(error) => return Err(refused(&spec.name, error)),
            }
        }
        if !waiting.is_empty() && waiting.len() == names.len() {
            // No progress: the remaining routes wait on each other (a cycle).
            return Err(last_error.unwrap_or_else(|| SeedError::Refused {
                name: names.join(", "),
                param: "fallbacks".into(),
                message: "fallbacks cannot be satisfied".into(),
            }));
        }
        pending = waiting;
    }
    Ok(created)
}

/// The field at fault, as the admin API would name it, so an operator finds it in the file.
fn refused(name: &str, error: AdminError) -> SeedError {
    let param = match &error {
        AdminError::Invalid { param, .. } => param.clone(),
        AdminError::Conflict { param, .. } => param.clone().unwrap_or_default(),
        AdminError::Route(gaiarouter_domain::route::RouteError::InvalidSpec(spec)) => spec.param(),
        _ => String::new(),
    };
    SeedError::Refused { name: name.to_string(), param, message: error.to_string() }
}
