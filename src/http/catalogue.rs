//! `GET /v1/catalogue`: every model this gateway serves with its prices, for the
//! dashboard's model catalogue (signed-in operators and organization keys alike).

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::Principal;
use crate::completion::catalogue::CatalogueEntry;
use crate::gateway::registry::Price;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/catalogue", get(catalogue))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Catalogue {
    pub object: &'static str,
    pub data: Vec<CatalogueEntryDto>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CatalogueEntryDto {
    /// The model id (or route name) clients send.
    pub id: String,
    /// `route` or `model`.
    pub kind: &'static str,
    /// The provider of a built-in model; `gaiarouter` for a route.
    pub provider: String,
    /// USD per million tokens; null when no price is known (such requests are recorded at cost 0).
    pub pricing: Option<PricingDto>,
    /// False when no price is known: its requests are recorded at cost 0 and cost
    /// limits do not hold for it (a custom model without prices in the models file).
    pub priced: bool,
}

/// USD per million tokens. Cached input and cache writes are null when the model
/// bills them as plain input.
#[derive(Debug, Serialize, ToSchema)]
pub struct PricingDto {
    pub input_per_million: f64,
    pub output_per_million: f64,
    pub cached_input_per_million: Option<f64>,
    pub cache_write_per_million: Option<f64>,
}

impl From<&Price> for PricingDto {
    fn from(price: &Price) -> Self {
        PricingDto {
            input_per_million: price.input_per_million.to_usd_f64(),
            output_per_million: price.output_per_million.to_usd_f64(),
            cached_input_per_million: price.cached_input_per_million.map(|m| m.to_usd_f64()),
            cache_write_per_million: price.cache_write_per_million.map(|m| m.to_usd_f64()),
        }
    }
}

impl From<CatalogueEntry> for CatalogueEntryDto {
    fn from(entry: CatalogueEntry) -> Self {
        CatalogueEntryDto {
            pricing: entry.price.as_ref().map(Into::into),
            priced: entry.price.is_some(),
            kind: entry.kind.as_str(),
            id: entry.id,
            provider: entry.provider,
        }
    }
}

#[utoipa::path(get, path = "/v1/catalogue", tag = "models",
    responses((status = 200, body = Catalogue), (status = 401)))]
pub(crate) async fn catalogue(State(state): State<AppState>, _principal: Principal) -> Json<Catalogue> {
    let data = state.completions.catalogue().into_iter().map(Into::into).collect();
    Json(Catalogue { object: "list", data })
}
