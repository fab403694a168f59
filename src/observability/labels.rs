//! Bounded label values. Every distinct label value is a time series a Prometheus
//! server keeps for weeks, so no value a client chooses may become one: a model
//! is named only when this gateway knows it (a catalogued model or a route), and
//! no table of names grows past its cap.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The label of every model this gateway does not know by name.
pub const UNKNOWN: &str = "unknown";
/// The label of values past a table's cap.
pub const OTHER: &str = "other";

/// Interned label values: after the first sight of a value, a lookup costs a
/// hash and an `Arc` clone, never an allocation.
pub struct LabelTable {
    values: Mutex<HashMap<Box<str>, Arc<str>>>,
    cap: usize,
    other: Arc<str>,
}

impl LabelTable {
    pub fn new(cap: usize) -> Self {
        LabelTable { values: Mutex::new(HashMap::new()), cap, other: Arc::from(OTHER) }
    }

    /// `value` as a label; `other` once the table holds `cap` values.
    pub fn get(&self, value: &str) -> Arc<str> {
        let Ok(mut values) = self.values.lock() else { return Arc::clone(&self.other) };
        if let Some(label) = values.get(value) {
            return Arc::clone(label);
        }
        if values.len() >= self.cap {
            return Arc::clone(&self.other);
        }
        let label: Arc<str> = Arc::from(value);
        values.insert(Box::from(value), Arc::clone(&label));
        label
    }
}

/// Says whether a model id names a model this gateway knows (not merely one it
/// would pass through to a provider).
pub type KnownModel = Box<dyn Fn(&str) -> bool + Send + Sync>;

/// Model labels: the model itself when known, else [`UNKNOWN`].
pub struct ModelLabels {
    known: KnownModel,
    table: LabelTable,
    unknown: Arc<str>,
}

impl ModelLabels {
    pub fn new(known: KnownModel, cap: usize) -> Self {
        ModelLabels { known, table: LabelTable::new(cap), unknown: Arc::from(UNKNOWN) }
    }

    pub fn label(&self, model: &str) -> Arc<str> {
        if (self.known)(model) {
            self.table.get(model)
        } else {
            Arc::clone(&self.unknown)
        }
    }
}

/// `chat` or `messages`: the ingress as a label (the request log says
/// `chat_completions`).
pub fn ingress(ingress: &str) -> &'static str {
    match ingress {
        "chat_completions" | "chat" => "chat",
        "messages" => "messages",
        _ => OTHER,
    }
}

/// `2xx` … `5xx` (`499`, a client that left, is a `4xx`).
pub fn status_class(http_status: u16) -> &'static str {
    match http_status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        500..=599 => "5xx",
        _ => OTHER,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels() -> ModelLabels {
        ModelLabels::new(Box::new(|model| model == "gpt-4o" || model == "my-route"), 3)
    }

    #[test]
    fn given_a_known_model_when_labelled_then_the_label_is_the_model() {
        let labels = labels();
        assert_eq!(&*labels.label("gpt-4o"), "gpt-4o");
        assert_eq!(&*labels.label("my-route"), "my-route");
    }

    #[test]
    fn given_invented_model_names_when_labelled_then_they_all_share_the_unknown_label() {
        let labels = labels();
        for invented in ["gpt-5-turbo-ultra", "echo/whatever", "openai/made-up", "", "x\u{0}y"] {
            assert_eq!(&*labels.label(invented), UNKNOWN, "{invented:?}");
        }
    }

    #[test]
    fn given_a_full_table_when_a_new_value_arrives_then_it_is_other_and_known_values_stay() {
        let table = LabelTable::new(2);
        assert_eq!(&*table.get("a"), "a");
        assert_eq!(&*table.get("b"), "b");
        assert_eq!(&*table.get("c"), OTHER);
        assert_eq!(&*table.get("a"), "a");
    }

    #[test]
    fn given_the_same_value_twice_when_interned_then_the_same_allocation_is_shared() {
        let table = LabelTable::new(8);
        let first = table.get("anthropic");
        let second = table.get("anthropic");
        assert!(Arc::ptr_eq(&first, &second));
    }

    #[test]
    fn given_statuses_when_classed_then_each_falls_in_its_class() {
        assert_eq!([200, 429, 499, 502, 0].map(status_class), ["2xx", "4xx", "4xx", "5xx", OTHER]);
        assert_eq!(["chat_completions", "messages", "embeddings"].map(ingress), ["chat", "messages", OTHER]);
    }
}
