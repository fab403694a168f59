//! The dashboard, built into the binary: `frontend/dist` as it was when the binary
//! was compiled, so `gaiarouter serve` needs no other file. `GAIAROUTER_STATIC_DIR`
//! still wins (a dashboard built later, without recompiling).
//!
//! Vite names every file under `assets/` by its content hash, so those are cached
//! for a year; `index.html` (which names them) is revalidated on every load, by
//! its ETag, so a new binary's dashboard is seen at once.

use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_NONE_MATCH};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use rust_embed::RustEmbed;

use crate::error::ApiError;

/// `allow_missing`: a clean clone has no `frontend/dist` until `npm run build`; the
/// binary then builds without a dashboard (and says so at start, see `build.rs`).
#[derive(RustEmbed)]
#[folder = "frontend/dist/"]
#[allow_missing = true]
struct Dist;

const INDEX: &str = "index.html";
const HASHED_ASSETS: &str = "assets/";
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const REVALIDATE: &str = "no-cache";

/// Whether this binary was built with a dashboard in it.
pub fn is_embedded() -> bool {
    Dist::get(INDEX).is_some()
}

/// Says at start where the dashboard comes from, or that there is none (a binary
/// built before `npm run build`), so an empty `/` is never a mystery.
pub fn announce(static_dir: Option<&std::path::Path>) {
    match static_dir {
        Some(dir) if dir.join(INDEX).exists() => {
            tracing::info!(dir = %dir.display(), "serving the dashboard from a directory")
        }
        Some(dir) => tracing::warn!(dir = %dir.display(), "GAIAROUTER_STATIC_DIR has no index.html; ignoring it"),
        None => {}
    }
    if static_dir.is_none_or(|dir| !dir.join(INDEX).exists()) {
        if is_embedded() {
            tracing::info!("serving the dashboard built into this binary");
        } else {
            tracing::warn!(
                "no dashboard: this binary was built without frontend/dist (run `npm run build` in frontend/ \
                 before cargo, or set GAIAROUTER_STATIC_DIR); the API works without it"
            );
        }
    }
}

/// A file of the dashboard by its path; any other path that is not a file gets
/// `index.html` (a single-page app: `/logs?request=..` is a route of the app).
pub async fn serve(method: Method, uri: Uri, headers: HeaderMap) -> Response {
    if method != Method::GET && method != Method::HEAD {
        return ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "method not allowed on this route")
            .into_response();
    }
    let path = uri.path().trim_start_matches('/');
    let (name, file) = match Dist::get(path).filter(|_| !path.is_empty()) {
        Some(file) => (path, file),
        // A missing hashed asset is a stale page asking for an old build: a 404
        // tells it so, where index.html would be parsed as a script.
        None if path.starts_with(HASHED_ASSETS) => {
            return ApiError::not_found("unknown_route", "no such file").into_response()
        }
        None => match Dist::get(INDEX) {
            Some(index) => (INDEX, index),
            None => return ApiError::not_found("unknown_route", "no such route").into_response(),
        },
    };
    let etag = format!("\"{}\"", hex::encode(file.metadata.sha256_hash()));
    let cache = if name.starts_with(HASHED_ASSETS) { IMMUTABLE } else { REVALIDATE };
    let mut response = if headers.get(IF_NONE_MATCH).and_then(|v| v.to_str().ok()) == Some(etag.as_str()) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut response = file.data.into_owned().into_response();
        if let Ok(mime) = HeaderValue::from_str(file.metadata.mimetype()) {
            response.headers_mut().insert(CONTENT_TYPE, mime);
        }
        response
    };
    let headers = response.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static(cache));
    if let Ok(etag) = HeaderValue::from_str(&etag) {
        headers.insert(ETAG, etag);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_path_under_assets_that_is_not_a_file_is_a_404_not_the_index() {
        // Given any build (with or without a dashboard), when a stale hashed asset is asked for
        let response = serve(Method::GET, Uri::from_static("/assets/index-00000000.js"), HeaderMap::new()).await;
        // Then it is not answered with index.html
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
    }

    #[tokio::test]
    async fn writing_to_the_dashboard_is_refused() {
        let response = serve(Method::POST, Uri::from_static("/"), HeaderMap::new()).await;
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    }
}
