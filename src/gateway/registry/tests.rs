use super::*;

fn usd(text: &str) -> Money {
    Money::from_usd_decimal(text).unwrap()
}

#[test]
fn resolves_provider_prefixed_ids_with_catalog_prices() {
    let registry = ModelRegistry::new();
    let model = registry.resolve("openai/gpt-4o").unwrap();
    assert_eq!(
        model,
        ResolvedModel {
            id: "openai/gpt-4o".into(),
            provider: "openai".into(),
            upstream_model: "gpt-4o".into(),
            price: Price {
                input_per_million: usd("2.5"),
                output_per_million: usd("10"),
                cached_input_per_million: Some(usd("1.25")),
                ..Price::FREE
            },
            price_known: true,
        }
    );
    let claude = registry.resolve("anthropic/claude-sonnet-4-5").unwrap();
    assert_eq!((claude.provider.as_str(), claude.upstream_model.as_str()), ("anthropic", "claude-sonnet-4-5"));
    assert_eq!(claude.price.output_per_million, usd("15"));
    let gemini = registry.resolve("google/gemini-2.5-pro").unwrap();
    assert_eq!((gemini.provider.as_str(), gemini.upstream_model.as_str()), ("google", "gemini-2.5-pro"));
    assert_eq!(registry.resolve("gemini/gemini-2.5-pro").unwrap().provider, "google");
}

#[test]
fn resolves_bare_well_known_ids_to_their_provider_and_upstream_alias() {
    let registry = ModelRegistry::new();
    let cases = [
        ("gpt-4o", "openai", "gpt-4o"),
        ("gpt-5-mini", "openai", "gpt-5-mini"),
        ("o4-mini", "openai", "o4-mini"),
        ("claude-sonnet-4-5", "anthropic", "claude-sonnet-4-5"),
        ("claude-sonnet-4", "anthropic", "claude-sonnet-4-0"),
        ("claude-3-5-haiku", "anthropic", "claude-3-5-haiku-latest"),
        ("gemini-2.5-flash", "google", "gemini-2.5-flash"),
        ("gemini-2.0-flash", "google", "gemini-2.0-flash"),
    ];
    for (id, provider, upstream) in cases {
        let model = registry.resolve(id).unwrap();
        assert_eq!(
            (model.id.as_str(), model.provider.as_str(), model.upstream_model.as_str()),
            (format!("{provider}/{id}").as_str(), provider, upstream),
            "a bare id is recorded under its canonical provider/model id"
        );
        assert!(model.price_known, "{id}");
    }
}

#[test]
fn dated_snapshots_are_sent_as_is_and_priced_like_their_model() {
    let registry = ModelRegistry::new();
    let claude = registry.resolve("anthropic/claude-sonnet-4-5-20250929").unwrap();
    assert_eq!(claude.upstream_model, "claude-sonnet-4-5-20250929");
    assert_eq!(claude.price, registry.resolve("claude-sonnet-4-5").unwrap().price);
    let gpt = registry.resolve("gpt-4o-2024-08-06").unwrap();
    assert_eq!((gpt.provider.as_str(), gpt.upstream_model.as_str()), ("openai", "gpt-4o-2024-08-06"));
    assert!(gpt.price_known);
}

#[test]
fn openrouter_custom_and_unlisted_models_resolve_with_unknown_price() {
    let registry = ModelRegistry::new().with_custom_providers(["vllm"]);
    let routed = registry.resolve("openrouter/anthropic/claude-sonnet-4.5").unwrap();
    assert_eq!(
        (routed.provider.as_str(), routed.upstream_model.as_str()),
        ("openrouter", "anthropic/claude-sonnet-4.5")
    );
    assert_eq!((routed.price, routed.price_known), (Price::FREE, false));
    let custom = registry.resolve("vllm/meta-llama/Llama-3.1-8B-Instruct").unwrap();
    assert_eq!(
        (custom.provider.as_str(), custom.upstream_model.as_str()),
        ("vllm", "meta-llama/Llama-3.1-8B-Instruct")
    );
    let new_model = registry.resolve("openai/gpt-9").unwrap();
    assert_eq!((new_model.upstream_model.as_str(), new_model.price_known), ("gpt-9", false));
    // Charged the provider's ceiling, never free: cost limits hold for models newer than the catalog.
    let dearest = CATALOG
        .iter()
        .filter(|entry| entry.provider == "openai")
        .map(|entry| registry.resolve(entry.id).unwrap().price.output_per_million)
        .max()
        .unwrap();
    assert_eq!(new_model.price.output_per_million, dearest);
    assert!(registry.resolve("claude-opus-9").unwrap().price.input_per_million > Money::ZERO);
    let echo = registry.resolve("echo/anything").unwrap();
    assert_eq!((echo.provider.as_str(), echo.price, echo.price_known), ("echo", Price::FREE, true));
}

#[test]
fn refuses_unknown_providers_unknown_bare_ids_and_empty_models() {
    let registry = ModelRegistry::new();
    assert!(matches!(registry.resolve("acme/model"), Err(RegistryError::UnknownProvider { .. })));
    assert!(matches!(registry.resolve("vllm/model"), Err(RegistryError::UnknownProvider { .. })));
    assert!(matches!(registry.resolve("llama-unknown"), Err(RegistryError::UnknownModel(_))));
    assert!(matches!(registry.resolve("openai/"), Err(RegistryError::MissingUpstreamModel(_))));
}

#[test]
fn cost_is_integer_and_rounds_up_to_the_nano() {
    let price = Price {
        input_per_million: usd("2.5"),
        output_per_million: usd("10"),
        cached_input_per_million: Some(usd("1.25")),
        ..Price::FREE
    };
    // 1,000 uncached input at $2.5/M = $0.0025; 500 output at $10/M = $0.005.
    assert_eq!(price.cost(1_000, 500, 0), usd("0.0075"));
    // 400 of the 1,000 prompt tokens cached: (600 × $2.5 + 400 × $1.25) / 1M = $0.002.
    assert_eq!(price.cost(1_000, 0, 400), usd("0.002"));
    // One token at 2,500,001 nano-USD per million is 2.500001 nano-USD: rounded up to 3.
    let odd = Price { input_per_million: Money::from_nanos(2_500_001), ..Price::FREE };
    assert_eq!(odd.cost(1, 0, 0), Money::from_nanos(3));
    assert_eq!(odd.cost(1_000_000, 0, 0), Money::from_nanos(2_500_001));
    assert_eq!(Price::FREE.cost(1_000_000, 1_000_000, 0), Money::ZERO);
    // Without a cached price, cached tokens cost the input price; cached never exceeds prompt.
    let plain = Price { cached_input_per_million: None, ..price };
    assert_eq!(plain.cost(1_000, 0, 400), plain.cost(1_000, 0, 0));
    assert_eq!(price.cost(10, 0, 50), price.cost(10, 0, 10));
    // Huge counts do not overflow.
    assert_eq!(price.cost(u64::MAX, u64::MAX, 0), Money::from_nanos(i64::MAX));
}

#[test]
fn overrides_add_and_reprice_models() {
    let registry = ModelRegistry::new()
        .with_overrides_json(
            r#"[
                {"id": "openrouter/anthropic/claude-sonnet-4.5", "provider": "openrouter",
                 "upstream_model": "anthropic/claude-sonnet-4.5",
                 "input_per_million_usd": "3", "output_per_million_usd": 15, "cached_input_per_million_usd": 0.3},
                {"id": "fast", "provider": "openai", "upstream_model": "gpt-4o-mini",
                 "input_per_million_usd": 0.15, "output_per_million_usd": "0.6"},
                {"id": "gpt-4o", "provider": "openai", "upstream_model": "gpt-4o-2024-11-20",
                 "input_per_million_usd": "2", "output_per_million_usd": "8"}
            ]"#,
        )
        .unwrap();
    let routed = registry.resolve("openrouter/anthropic/claude-sonnet-4.5").unwrap();
    assert_eq!(routed.price.cached_input_per_million, Some(usd("0.3")));
    assert!(routed.price_known);
    let fast = registry.resolve("fast").unwrap();
    assert_eq!((fast.provider.as_str(), fast.upstream_model.as_str()), ("openai", "gpt-4o-mini"));
    assert_eq!(fast.price.input_per_million, usd("0.15"));
    let repriced = registry.resolve("gpt-4o").unwrap();
    assert_eq!((repriced.upstream_model.as_str(), repriced.price.input_per_million), ("gpt-4o-2024-11-20", usd("2")));
}

#[test]
fn bad_overrides_are_refused_with_the_offending_id() {
    let bad_amount = ModelRegistry::new().with_overrides_json(
        r#"[{"id": "x", "provider": "openai", "upstream_model": "y", "input_per_million_usd": "-1", "output_per_million_usd": "1"}]"#,
    );
    assert!(matches!(bad_amount, Err(RegistryError::InvalidOverride { id, .. }) if id == "x"));
    let unknown_field = ModelRegistry::new().with_overrides_json(
        r#"[{"id": "x", "provider": "openai", "upstream_model": "y", "input_per_million_usd": 1, "output_per_million_usd": 1, "typo": 1}]"#,
    );
    assert!(matches!(unknown_field, Err(RegistryError::OverridesFile { .. })));
    let missing = ModelRegistry::with_overrides_file(Path::new("/nonexistent/models.json"));
    assert!(matches!(missing, Err(RegistryError::OverridesFile { path, .. }) if path == "/nonexistent/models.json"));
}

#[test]
fn overrides_file_is_read_from_disk() {
    let path = std::env::temp_dir().join(format!("gaiarouter-models-{}.json", uuid::Uuid::now_v7()));
    std::fs::write(
        &path,
        r#"[{"id": "local/llama", "provider": "local", "upstream_model": "llama3", "input_per_million_usd": 0, "output_per_million_usd": 0}]"#,
    )
    .unwrap();
    let registry = ModelRegistry::with_overrides_file(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(registry.resolve("local/llama").unwrap().upstream_model, "llama3");
}

#[test]
fn lists_models_of_configured_providers_only() {
    let registry = ModelRegistry::new()
        .with_overrides_json(
            r#"[{"id": "openrouter/x/y", "provider": "openrouter", "upstream_model": "x/y", "input_per_million_usd": 1, "output_per_million_usd": 1}]"#,
        )
        .unwrap();
    let listed = registry.list(&["openai", "echo"]);
    let ids: Vec<&str> = listed.iter().map(|m| m.id.as_str()).collect();
    assert!(ids.contains(&"openai/gpt-4o"));
    assert!(ids.contains(&"echo/demo"), "the README's echo model is the one listed");
    assert!(!ids.iter().any(|id| id.starts_with("anthropic/") || id.starts_with("openrouter/")));
    assert!(listed.iter().all(|m| m.object == "model"));
    assert_eq!(listed.iter().find(|m| m.id == "openai/gpt-4o").unwrap().owned_by, "openai");
    let with_openrouter = registry.list(&["openrouter"]);
    assert_eq!(with_openrouter.len(), 1);
    assert_eq!(with_openrouter[0].id, "openrouter/x/y");
    assert!(registry.knows_provider("google") && !registry.knows_provider("acme"));
}

#[test]
fn given_anthropic_cache_writes_then_five_minute_and_one_hour_writes_are_priced_apart() {
    // claude-sonnet-4-5: $3/M input, $0.30/M cache reads, $15/M output; writes 1.25× and 2×.
    let price = Price {
        input_per_million: usd("3"),
        output_per_million: usd("15"),
        cached_input_per_million: Some(usd("0.3")),
        ..Price::FREE
    }
    .for_provider("anthropic");
    assert_eq!(price.cache_write_per_million, Some(usd("3.75")));
    assert_eq!(price.cache_write_1h_per_million, Some(usd("6")));
    // 10,000 prompt tokens: 1,000 plain, 4,000 read, 3,000 written for 5 minutes, 2,000 for an hour.
    let tokens = TokenCounts {
        prompt: 10_000,
        completion: 100,
        cached: 4_000,
        cache_write: 5_000,
        cache_write_1h: 2_000,
        web_searches: 0,
    };
    // 1,000×3 + 4,000×0.3 + 3,000×3.75 + 2,000×6 + 100×15 = 3,000 + 1,200 + 11,250 + 12,000 + 1,500 = 28,950 µ$.
    assert_eq!(price.cost_of(&tokens), usd("0.02895"));
    // Writes are not free where the provider has no write price: billed as input.
    let openai = Price { input_per_million: usd("2.5"), output_per_million: usd("10"), ..Price::FREE };
    assert_eq!(openai.for_provider("openai"), openai);
    assert_eq!(
        openai.cost_of(&TokenCounts { prompt: 1_000, cache_write: 600, ..TokenCounts::default() }),
        openai.cost(1_000, 0, 0)
    );
    // Reads and writes never count more than the prompt.
    let over = TokenCounts { prompt: 10, cached: 8, cache_write: 8, cache_write_1h: 20, ..TokenCounts::default() };
    let exact = TokenCounts { prompt: 10, cached: 8, cache_write: 2, cache_write_1h: 2, ..TokenCounts::default() };
    assert_eq!(price.cost_of(&over), price.cost_of(&exact));
    // Web searches at $10 a thousand: 3 searches on top of the tokens are 3 cents.
    let searched = TokenCounts { web_searches: 3, ..tokens };
    assert_eq!(price.cost_of(&searched), usd("0.05895"));
}

#[test]
fn catalog_claude_models_price_cache_writes_and_others_do_not() {
    let registry = ModelRegistry::new();
    let claude = registry.resolve("claude-sonnet-4-5").unwrap().price;
    assert_eq!(claude.cache_write_per_million, Some(usd("3.75")));
    let gpt = registry.resolve("gpt-4o").unwrap().price;
    assert_eq!(gpt.cache_write_per_million, None);
}

#[test]
fn given_a_bare_id_newer_than_the_catalog_then_its_family_provider_serves_it_at_an_unknown_price() {
    let registry = ModelRegistry::new();
    for (id, provider) in
        [("claude-opus-5-5", "anthropic"), ("gpt-7", "openai"), ("o9-mini", "openai"), ("gemini-4-pro", "google")]
    {
        let resolved = registry.resolve(id).unwrap();
        assert_eq!((resolved.provider.as_str(), resolved.upstream_model.as_str()), (provider, id));
        assert!(!resolved.price_known);
    }
    assert!(matches!(registry.resolve("omni"), Err(RegistryError::UnknownModel(_))));
    // Guessed ids are not the registry's own: a route may be named `claude-team`.
    assert!(!registry.names_a_model("claude-team"));
    assert!(registry.names_a_model("claude-sonnet-4-5"));
    assert!(registry.names_a_model("echo/x"));
}

#[test]
fn a_bare_id_and_its_provider_form_resolve_to_one_canonical_id() {
    let registry = ModelRegistry::new();
    for (one, other) in [
        ("gpt-4o", "openai/gpt-4o"),
        ("claude-new-model", "anthropic/claude-new-model"),
        ("gemini-2.5-pro", "gemini/gemini-2.5-pro"),
    ] {
        assert_eq!(registry.resolve(one).unwrap().id, registry.resolve(other).unwrap().id, "{one} and {other}");
    }
    assert_eq!(registry.resolve("gemini/gemini-2.5-pro").unwrap().id, "google/gemini-2.5-pro");
    assert_eq!(registry.resolve("echo/demo").unwrap().id, "echo/demo");
}

#[test]
fn the_readme_models_file_example_warns_until_its_server_is_declared_and_says_how() {
    // Given the README's example, and no GAIAROUTER_OPENAI_COMPATIBLE
    let readme = include_str!("../../../README.md");
    let example = readme.split("```json\n").nth(1).and_then(|rest| rest.split("```").next()).unwrap();
    let registry = ModelRegistry::new().with_overrides_json(example).unwrap();
    // When the gateway starts, then it warns, naming the variable to set
    let warnings = registry.startup_warnings(&["echo"]);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("GAIAROUTER_OPENAI_COMPATIBLE=local-vllm="), "{}", warnings[0]);
    // And once the server is declared, it resolves; what is left is the note that unpriced models cost 0
    let declared = registry.with_custom_providers(["local-vllm"]);
    let warnings = declared.startup_warnings(&["echo", "local-vllm"]);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("does not price are recorded at cost 0"), "{warnings:?}");
    assert_eq!(declared.resolve("local-vllm/llama-3.1-8b").unwrap().upstream_model, "meta-llama/Llama-3.1-8B-Instruct");
}

#[test]
fn a_models_file_entry_without_prices_is_served_at_cost_zero_and_flagged() {
    let registry = ModelRegistry::new()
        .with_overrides_json(r#"[{"id": "lab/free-model", "provider": "lab", "upstream_model": "m"}]"#)
        .unwrap()
        .with_custom_providers(["lab"]);
    let model = registry.resolve("lab/free-model").unwrap();
    assert!(!model.price_known);
    assert_eq!(model.price.cost(1_000, 1_000, 0).nanos(), 0);
    let warnings = registry.startup_warnings(&["lab"]);
    assert!(warnings.iter().any(|w| w.contains("lab/free-model") && w.contains("no price")), "{warnings:?}");
    assert!(!warnings.iter().any(|w| w.contains("not configured")), "{warnings:?}");
    let half = ModelRegistry::new().with_overrides_json(
        r#"[{"id": "lab/x", "provider": "lab", "upstream_model": "m", "input_per_million_usd": 1}]"#,
    );
    assert!(matches!(half, Err(RegistryError::InvalidOverride { .. })), "one price without the other is refused");
}

#[test]
fn only_catalogued_models_and_overrides_are_catalogued_not_names_passed_through() {
    let registry = ModelRegistry::new().with_custom_providers(["local-vllm"]);
    for listed in ["gpt-4o-mini", "openai/gpt-4o-mini", "anthropic/claude-sonnet-4-5", "claude-sonnet-4-5"] {
        assert!(registry.catalogues(listed), "{listed}");
    }
    for passed_through in ["openai/made-up", "echo/anything", "local-vllm/llama", "claude-team", "made-up"] {
        assert!(registry.resolve(passed_through).is_ok() || passed_through == "made-up", "{passed_through} resolves");
        assert!(!registry.catalogues(passed_through), "{passed_through}");
    }
}

proptest::proptest! {
    /// Model ids come from clients and from log filters: any string is resolved
    /// or refused, never a panic (a date suffix cut inside a character was one).
    #[test]
    fn any_string_resolves_or_is_refused_without_panicking(model in "\\PC{0,40}") {
        let registry = ModelRegistry::new().with_custom_providers(["local-vllm"]);
        let _ = registry.resolve(&model);
        let _ = registry.names_a_model(&model);
        let _ = registry.catalogues(&model);
    }
}

#[test]
fn a_date_suffix_is_never_cut_inside_a_character() {
    // The log filter the API fuzzer sent: 11 bytes from the end falls inside `񦍉`.
    let registry = ModelRegistry::new();
    assert!(registry.resolve("¯񦍉±,ç¦M").is_err());
}
