//! What this gateway serves, with prices: routes first (what its operators chose
//! to offer), then every model id of a configured provider. Read by the admin
//! API's model catalogue (`GET /v1/catalogue`) and by `GET /v1/models`.

use crate::gateway::registry::Price;

/// One model a client can ask for.
#[derive(Debug, Clone, PartialEq)]
pub struct CatalogueEntry {
    pub id: String,
    pub kind: EntryKind,
    /// The provider of a built-in model; `gaiarouter` for a route.
    pub provider: String,
    /// What a request is charged; `None` when no price is known (recorded at cost 0).
    pub price: Option<Price>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    Route,
    Model,
}

impl EntryKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::Route => "route",
            EntryKind::Model => "model",
        }
    }
}

impl super::CompletionService {
    /// The name requests for `model` are recorded under: a route's own name, else
    /// the model's canonical `provider/model` id, else `model` as given. Log
    /// filters read it, so `gpt-4o` and `openai/gpt-4o` find the same requests.
    pub fn recorded_name(&self, model: &str) -> String {
        if self.routes.get(model).is_some() {
            return model.to_owned();
        }
        self.registry.resolve(model).map_or_else(|_| model.to_owned(), |resolved| resolved.id)
    }

    pub fn catalogue(&self) -> Vec<CatalogueEntry> {
        let routes = self.routes.names().into_iter().map(|name| {
            // A route is charged at the price of the deployment that serves it; its
            // first deployment's is what a request is admitted at.
            let price = self.plan(&name).ok().map(|plan| plan.first_price()).filter(|price| *price != Price::default());
            CatalogueEntry { id: name, kind: EntryKind::Route, provider: "gaiarouter".into(), price }
        });
        let names = self.providers.names();
        let models = self.registry.list(&names).into_iter().map(|info| {
            let price = self.registry.resolve(&info.id).ok().filter(|r| r.price_known).map(|r| r.price);
            CatalogueEntry { id: info.id, kind: EntryKind::Model, provider: info.owned_by, price }
        });
        routes.chain(models).collect()
    }
}
