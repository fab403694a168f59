//! Built-in models and their list prices (USD per million tokens, standard tier,
//! prompts up to 200k tokens where the provider prices long prompts higher).

/// One built-in model: `id` is the bare id clients may send, `upstream` what the
/// provider's API calls it. Prices are in thousandths of a USD per million tokens.
pub(super) struct CatalogEntry {
    pub id: &'static str,
    pub provider: &'static str,
    pub upstream: &'static str,
    pub input_milli_usd: i64,
    pub cached_input_milli_usd: Option<i64>,
    pub output_milli_usd: i64,
    /// The most output tokens one answer may have (Anthropic's models overview); set
    /// for Anthropic models, whose API requires `max_tokens` on every request.
    pub max_output_tokens: Option<u32>,
}

const fn entry(
    id: &'static str,
    provider: &'static str,
    upstream: &'static str,
    input_milli_usd: i64,
    cached_input_milli_usd: Option<i64>,
    output_milli_usd: i64,
) -> CatalogEntry {
    CatalogEntry {
        id,
        provider,
        upstream,
        input_milli_usd,
        cached_input_milli_usd,
        output_milli_usd,
        max_output_tokens: None,
    }
}

/// An entry that also records the model's maximum output.
const fn with_max_output(entry: CatalogEntry, max_output_tokens: u32) -> CatalogEntry {
    CatalogEntry { max_output_tokens: Some(max_output_tokens), ..entry }
}

#[rustfmt::skip]
pub(super) const CATALOG: &[CatalogEntry] = &[
    entry("gpt-4o", "openai", "gpt-4o", 2_500, Some(1_250), 10_000),
    entry("gpt-4o-mini", "openai", "gpt-4o-mini", 150, Some(75), 600),
    entry("gpt-4.1", "openai", "gpt-4.1", 2_000, Some(500), 8_000),
    entry("gpt-4.1-mini", "openai", "gpt-4.1-mini", 400, Some(100), 1_600),
    entry("gpt-4.1-nano", "openai", "gpt-4.1-nano", 100, Some(25), 400),
    entry("o3", "openai", "o3", 2_000, Some(500), 8_000),
    entry("o4-mini", "openai", "o4-mini", 1_100, Some(275), 4_400),
    entry("gpt-5", "openai", "gpt-5", 1_250, Some(125), 10_000),
    entry("gpt-5-mini", "openai", "gpt-5-mini", 250, Some(25), 2_000),
    entry("gpt-5-nano", "openai", "gpt-5-nano", 50, Some(5), 400),
    // Anthropic cache reads cost 10% of input.
    // Max output: Anthropic's models overview (Opus 4/4.1 32K, Sonnet 4/4.5, 3.7 Sonnet and
    // Haiku 4.5 64K, 3.5 Haiku 8K).
    with_max_output(entry("claude-opus-4-1", "anthropic", "claude-opus-4-1", 15_000, Some(1_500), 75_000), 32_000),
    with_max_output(entry("claude-opus-4", "anthropic", "claude-opus-4-0", 15_000, Some(1_500), 75_000), 32_000),
    with_max_output(entry("claude-sonnet-4-5", "anthropic", "claude-sonnet-4-5", 3_000, Some(300), 15_000), 64_000),
    with_max_output(entry("claude-sonnet-4", "anthropic", "claude-sonnet-4-0", 3_000, Some(300), 15_000), 64_000),
    with_max_output(entry("claude-3-7-sonnet", "anthropic", "claude-3-7-sonnet-latest", 3_000, Some(300), 15_000), 64_000),
    with_max_output(entry("claude-haiku-4-5", "anthropic", "claude-haiku-4-5", 1_000, Some(100), 5_000), 64_000),
    with_max_output(entry("claude-3-5-haiku", "anthropic", "claude-3-5-haiku-latest", 800, Some(80), 4_000), 8_192),
    entry("gemini-2.5-pro", "google", "gemini-2.5-pro", 1_250, Some(125), 10_000),
    entry("gemini-2.5-flash", "google", "gemini-2.5-flash", 300, Some(30), 2_500),
    entry("gemini-2.5-flash-lite", "google", "gemini-2.5-flash-lite", 100, Some(10), 400),
    entry("gemini-2.0-flash", "google", "gemini-2.0-flash", 100, Some(25), 400),
    entry("gemini-2.0-flash-lite", "google", "gemini-2.0-flash-lite", 75, None, 300),
];

/// The maximum output of an Anthropic model by the name sent upstream: a catalog id or
/// alias (`claude-sonnet-4-5`, `claude-opus-4-0`), or a dated snapshot of one
/// (`claude-sonnet-4-5-20250929`). `None` for models the catalog does not know.
pub(crate) fn anthropic_max_output_tokens(upstream_model: &str) -> Option<u32> {
    let find = |name: &str| {
        CATALOG
            .iter()
            .find(|entry| entry.provider == "anthropic" && (entry.upstream == name || entry.id == name))
            .and_then(|entry| entry.max_output_tokens)
    };
    find(upstream_model).or_else(|| super::without_date_suffix(upstream_model).and_then(find))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knows_the_maximum_output_of_anthropic_models_by_alias_id_and_snapshot() {
        assert_eq!(anthropic_max_output_tokens("claude-sonnet-4-5"), Some(64_000));
        assert_eq!(anthropic_max_output_tokens("claude-sonnet-4-5-20250929"), Some(64_000));
        assert_eq!(anthropic_max_output_tokens("claude-opus-4-0"), Some(32_000));
        assert_eq!(anthropic_max_output_tokens("claude-opus-4-20250514"), Some(32_000));
        assert_eq!(anthropic_max_output_tokens("claude-3-7-sonnet-20250219"), Some(64_000));
        assert_eq!(anthropic_max_output_tokens("claude-3-5-haiku-latest"), Some(8_192));
        assert_eq!(anthropic_max_output_tokens("claude-next-9"), None);
        assert_eq!(anthropic_max_output_tokens("gpt-4o"), None, "only Anthropic models");
        assert!(CATALOG.iter().filter(|e| e.provider == "anthropic").all(|e| e.max_output_tokens.is_some()));
    }
}
