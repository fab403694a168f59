//! Providers against fake upstreams that speak each provider's real wire format.
//! One conformance suite, stamped over every provider.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod anthropic_fidelity;
mod cases;
mod echo;
mod fakes;
mod gemini_fidelity;
mod openai_fidelity;
mod strictness;
mod subjects;
mod translation_gaps;
mod wire;

/// Stamps every conformance case into a module per provider, so a failure names both
/// the provider and the behaviour (`anthropic::round_trips_a_tool_call`).
macro_rules! conformance_suite {
    ($($module:ident => $kind:expr),+ $(,)?) => {
        $(
            mod $module {
                use crate::cases;
                use crate::subjects::Kind;

                conformance_suite!(@cases $kind;
                    answers_plain_text,
                    translates_a_multi_turn_conversation_with_a_system_prompt,
                    round_trips_a_tool_call,
                    streams_text_and_ends_with_the_upstream_usage,
                    streams_a_tool_call,
                    keeps_upstream_client_errors_status_and_message,
                    keeps_the_retry_after_of_a_rate_limit,
                    reports_a_rejected_provider_key_as_a_bad_gateway,
                    reports_a_wrong_provider_key_as_a_bad_gateway_without_echoing_it,
                    reports_a_forbidden_provider_key_as_a_bad_gateway,
                    passes_the_exact_usage_through_with_cached_tokens,
                    streams_the_exact_usage_through_with_cached_tokens,
                    reassembles_unicode_text_from_a_stream_cut_anywhere,
                    maps_upstream_server_errors_to_bad_gateway,
                    times_out_a_silent_upstream,
                    times_out_a_stream_that_goes_silent,
                    ends_a_cut_stream_with_an_error,
                    ends_the_stream_on_an_upstream_error_event,
                    reports_an_unreachable_upstream,
                );
            }
        )+
    };
    (@cases $kind:expr; $($case:ident),+ $(,)?) => {
        $(
            #[tokio::test]
            async fn $case() {
                cases::$case($kind).await;
            }
        )+
    };
}

conformance_suite! {
    openai => Kind::OpenAi,
    openrouter => Kind::OpenRouter,
    custom_openai_compatible => Kind::CustomOpenAiCompatible,
    anthropic => Kind::Anthropic,
    gemini => Kind::Gemini,
}
