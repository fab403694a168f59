//! A `Ticket` is an admitted request on its way: it becomes exactly one
//! `RequestCompleted` event, whatever happens. Finished normally it is recorded
//! with its outcome; dropped unfinished (the client went away at any point) it
//! records itself as `client_disconnected`.
//!
//! What it records as used is the provider's report when the answer finished with
//! one, and never less than the gateway's estimate when an upstream answered but
//! its report is missing or cut short (see [`recorded_tokens`]): a client that
//! leaves a stream before its usage arrives still pays for what it was sent.

use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use gaiarouter_domain::request::{
    Attempt, RequestCompleted, RequestStatus, MAX_RECORDED_SEARCHES, MAX_RECORDED_TOKENS,
};
use uuid::Uuid;

use super::exchange::{Ingress, BYTES_PER_TOKEN};
use super::plan::Target;
use crate::auth::key_cache::GatewayCaller;
use crate::gateway::openai::Usage;
use crate::gateway::registry::TokenCounts;
use crate::gateway::Price;
use crate::routing::health::{Capacity, DeploymentHealth};
use crate::usage::quota::Reservation;
use crate::usage::recorder::{PendingRecord, Recorder};

pub struct Ticket {
    pub request_id: Uuid,
    pub provider: String,
    /// `None` once recorded (or handed to the recorder).
    details: Option<Details>,
    usage: Option<Usage>,
    recorder: Arc<Recorder>,
}

/// An attempt under way: recorded as unanswered if the request ends during it
/// (the client left while the upstream was still working).
struct Pending {
    attempt: Attempt,
    started: Instant,
}

struct Details {
    deployment: String,
    attempts: Vec<Attempt>,
    current: Option<Pending>,
    organization_id: Uuid,
    api_key_id: Uuid,
    model: String,
    ingress: Ingress,
    price: Price,
    streamed: bool,
    started_at: DateTime<Utc>,
    started: Instant,
    first_token_ms: Option<u64>,
    reservation: Reservation,
    /// The prompt's tokens as admission estimated them.
    estimated_prompt_tokens: u64,
    /// Bytes of generated text passed on to the client.
    output_bytes: u64,
    /// The serving deployment's tokens-per-minute count.
    meter: Option<TokenMeter>,
}

struct TokenMeter {
    health: Arc<DeploymentHealth>,
    capacity: Capacity,
}

/// What the gateway saw of a request's answer, for the estimate recorded when
/// the provider's usage report is missing or cut short.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Seen {
    /// An upstream answered (a whole answer, or a stream's first piece).
    answered: bool,
    /// The prompt's tokens as admission estimates them.
    prompt_tokens: u64,
    /// Bytes of generated text passed on to the client.
    output_bytes: u64,
}

/// How the call ended.
pub struct Outcome {
    pub usage: Option<Usage>,
    /// `None` = success.
    pub error_kind: Option<String>,
    pub http_status: u16,
}

impl Outcome {
    pub fn success(usage: Option<Usage>) -> Self {
        Outcome { usage, error_kind: None, http_status: 200 }
    }

    pub fn failure(kind: &str, http_status: u16, usage: Option<Usage>) -> Self {
        Outcome { usage, error_kind: Some(kind.to_string()), http_status }
    }

    /// The client went away before its answer was finished.
    fn disconnected(usage: Option<Usage>) -> Self {
        Self::failure("client_disconnected", 499, usage)
    }
}

fn elapsed_ms(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}

impl Ticket {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        request_id: Uuid,
        caller: &GatewayCaller,
        model: String,
        ingress: Ingress,
        provider: String,
        price: Price,
        streamed: bool,
        started_at: DateTime<Utc>,
        reservation: Reservation,
        estimated_prompt_tokens: u64,
        recorder: Arc<Recorder>,
    ) -> Self {
        let details = Details {
            deployment: provider.clone(),
            attempts: Vec::new(),
            current: None,
            organization_id: caller.key.organization_id,
            api_key_id: caller.key.id,
            model,
            ingress,
            price,
            streamed,
            started_at,
            started: Instant::now(),
            first_token_ms: None,
            reservation,
            estimated_prompt_tokens,
            output_bytes: 0,
            meter: None,
        };
        Ticket { request_id, provider, details: Some(details), usage: None, recorder }
    }

    pub fn mark_first_token(&mut self) {
        if let Some(details) = self.details.as_mut() {
            if details.first_token_ms.is_none() {
                details.first_token_ms = Some(elapsed_ms(details.started));
            }
        }
    }

    /// Generated text passed on to the client: the completion's estimate if its
    /// usage never comes.
    pub fn add_output(&mut self, bytes: usize) {
        if let Some(details) = self.details.as_mut() {
            details.output_bytes = details.output_bytes.saturating_add(bytes as u64);
        }
    }

    /// Usage seen so far (a stream reports it near its end): recorded even if the
    /// client leaves before the answer is finished.
    pub fn set_usage(&mut self, usage: Usage) {
        self.usage = Some(usage);
    }

    pub fn usage(&self) -> Option<&Usage> {
        self.usage.as_ref()
    }

    /// The deployment that serves (or last failed): its provider and price count,
    /// and its tokens per minute are charged with what the request is recorded as
    /// using (the estimate too when no report came: an upstream that never reports
    /// usage still fills its minute).
    pub fn serve_with(&mut self, target: &Target) {
        if let Some(details) = self.details.as_mut() {
            target.deployment.clone_into(&mut details.deployment);
            details.price = target.price;
            details.meter = Some(TokenMeter { health: Arc::clone(&target.health), capacity: target.capacity });
        }
        target.provider.name().clone_into(&mut self.provider);
    }

    /// An attempt starts: `attempt` says where to (its status is filled in later).
    pub fn attempt_started(&mut self, attempt: Attempt) {
        if let Some(details) = self.details.as_mut() {
            details.current = Some(Pending { attempt, started: Instant::now() });
        }
    }

    /// The attempt under way ended with this upstream status (0 = no answer).
    pub fn attempt_ended(&mut self, http_status: u16, error_kind: Option<&str>) {
        if let Some(details) = self.details.as_mut() {
            if let Some(pending) = details.current.take() {
                details.attempts.push(pending.finish(http_status, error_kind));
            }
        }
    }

    /// The attempt under way never reached the deployment (its provider cannot
    /// express the request): it is not an attempt.
    pub fn attempt_abandoned(&mut self) {
        if let Some(details) = self.details.as_mut() {
            details.current = None;
        }
    }

    /// The event this ticket ends with; the ticket is spent.
    pub fn into_record(mut self, outcome: Outcome) -> Option<PendingRecord> {
        let details = self.details.take()?;
        Some(details.into_record(self.request_id, std::mem::take(&mut self.provider), outcome))
    }
}

impl Pending {
    fn finish(mut self, http_status: u16, error_kind: Option<&str>) -> Attempt {
        self.attempt.http_status = http_status;
        self.attempt.error_kind = error_kind.map(str::to_string);
        self.attempt.latency_ms = elapsed_ms(self.started);
        self.attempt
    }
}

impl Details {
    fn into_record(mut self, request_id: Uuid, provider: String, outcome: Outcome) -> PendingRecord {
        if let Some(pending) = self.current.take() {
            let unanswered = pending.finish(0, outcome.error_kind.as_deref());
            self.attempts.push(unanswered);
        }
        let seen = Seen {
            // An attempt that ended without an error is one an upstream answered.
            answered: self.attempts.iter().any(|a| a.error_kind.is_none() && a.http_status != 0),
            prompt_tokens: self.estimated_prompt_tokens,
            output_bytes: self.output_bytes,
        };
        let finished = outcome.error_kind.is_none();
        let (tokens, usage_estimated) = recorded_tokens(outcome.usage.as_ref(), finished, seen);
        if let Some(meter) = &self.meter {
            let used = tokens.prompt.saturating_add(tokens.completion);
            if used > 0 {
                meter.health.used_tokens(meter.capacity, used, Instant::now());
            }
        }
        let reasoning = outcome.usage.as_ref().map_or(0, Usage::reasoning_tokens);
        let event = RequestCompleted {
            organization_id: self.organization_id,
            api_key_id: self.api_key_id,
            model: self.model,
            deployment: self.deployment,
            attempts: self.attempts,
            provider,
            prompt_tokens: tokens.prompt,
            completion_tokens: tokens.completion,
            cached_tokens: tokens.cached,
            cost: self.price.cost_of(&tokens),
            latency_ms: elapsed_ms(self.started),
            time_to_first_token_ms: self.first_token_ms,
            status: if outcome.error_kind.is_none() { RequestStatus::Success } else { RequestStatus::Error },
            http_status: outcome.http_status,
            error_kind: outcome.error_kind,
            streamed: self.streamed,
            started_at: self.started_at,
            finished_at: Utc::now(),
            ingress: self.ingress.as_str().to_string(),
            cache_write_tokens: tokens.cache_write,
            cache_write_1h_tokens: tokens.cache_write_1h,
            reasoning_tokens: reasoning.min(tokens.completion),
            usage_estimated,
        }
        .within_bounds();
        PendingRecord { request_id, event, reservation: self.reservation }
    }
}

/// What a provider reported, as priced and recorded: each figure at most what one
/// answer may add (`MAX_RECORDED_TOKENS`), whatever the upstream claims. Cache
/// reads and writes are part of the prompt and never count more tokens than it has.
fn token_counts(usage: &Usage) -> TokenCounts {
    let prompt = usage.prompt_tokens.min(MAX_RECORDED_TOKENS);
    let cached = usage.cached_tokens().min(prompt);
    let cache_write = usage.cache_write_tokens().min(prompt - cached);
    TokenCounts {
        prompt,
        completion: usage.completion_tokens.min(MAX_RECORDED_TOKENS),
        cached,
        cache_write,
        cache_write_1h: usage.cache_write_1h_tokens().min(cache_write),
        web_searches: usage.web_search_requests.min(MAX_RECORDED_SEARCHES),
    }
}

/// What a request is recorded as having used, and whether that is an estimate.
///
/// The provider's report when the answer finished with one. Otherwise, if an
/// upstream answered, its report is missing or cut short: no `usage` came at all,
/// or the client left mid-stream (or the stream broke) before the report that
/// ends it. Then the prompt is at least admission's estimate when none was
/// reported, and the completion at least the generated text passed on, at
/// [`BYTES_PER_TOKEN`]: what a client was sent is never free, so a limit on
/// tokens or cost holds against a client that leaves before the bill. Nothing is
/// estimated for a request no upstream answered.
///
/// A report of no prompt tokens for a prompt, or of no completion tokens for text
/// that was sent, is no report of those: an upstream answering `"usage": {}` (or a
/// translation that fills in zeros for what never came) is estimated like one that
/// sent nothing.
fn recorded_tokens(reported: Option<&Usage>, finished: bool, seen: Seen) -> (TokenCounts, bool) {
    let tokens = reported.map(token_counts).unwrap_or_default();
    let credible = (tokens.prompt > 0 || seen.prompt_tokens == 0) && (tokens.completion > 0 || seen.output_bytes == 0);
    if !seen.answered || (finished && reported.is_some() && credible) {
        return (tokens, false);
    }
    let prompt = match tokens.prompt {
        0 => seen.prompt_tokens.min(MAX_RECORDED_TOKENS),
        reported => reported,
    };
    let output = seen.output_bytes.div_ceil(BYTES_PER_TOKEN as u64).min(MAX_RECORDED_TOKENS);
    let completion = tokens.completion.max(output);
    let estimated = prompt != tokens.prompt || completion != tokens.completion;
    (TokenCounts { prompt, completion, ..tokens }, estimated)
}

/// A ticket dropped before it was recorded belongs to a request whose client went
/// away: before the first upstream byte, during a body, or mid-stream (the server
/// drops the handler or the body stream). It is recorded as `client_disconnected`
/// without waiting, which also releases its reservation at once.
impl Drop for Ticket {
    fn drop(&mut self) {
        if let Some(details) = self.details.take() {
            let provider = std::mem::take(&mut self.provider);
            let record = details.into_record(self.request_id, provider, Outcome::disconnected(self.usage.take()));
            self.recorder.record_detached(record);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::openai::PromptTokensDetails;

    #[test]
    fn given_an_upstream_claiming_u64_max_of_everything_then_each_figure_is_recorded_at_the_bound() {
        let claim = Usage {
            prompt_tokens: u64::MAX,
            completion_tokens: u64::MAX,
            total_tokens: u64::MAX,
            prompt_tokens_details: Some(PromptTokensDetails {
                cached_tokens: u64::MAX,
                cache_write_tokens: u64::MAX,
                cache_write_1h_tokens: u64::MAX,
                audio_tokens: None,
            }),
            completion_tokens_details: None,
            web_search_requests: u64::MAX,
        };
        let counts = token_counts(&claim);
        assert_eq!((counts.prompt, counts.completion), (MAX_RECORDED_TOKENS, MAX_RECORDED_TOKENS));
        // Cache reads take the whole (bounded) prompt; nothing is left to have been written.
        assert_eq!((counts.cached, counts.cache_write, counts.cache_write_1h), (MAX_RECORDED_TOKENS, 0, 0));
        assert_eq!(counts.web_searches, MAX_RECORDED_SEARCHES);
    }

    fn seen(answered: bool, prompt_tokens: u64, output_bytes: u64) -> Seen {
        Seen { answered, prompt_tokens, output_bytes }
    }

    #[test]
    fn given_an_answer_that_finished_with_its_report_then_the_report_is_recorded_as_is() {
        let report = Usage::new(1_000, 10, 0);
        // The report stands even when the text passed on suggests more.
        let (tokens, estimated) = recorded_tokens(Some(&report), true, seen(true, 50, 4_000));
        assert_eq!((tokens.prompt, tokens.completion, estimated), (1_000, 10, false));
    }

    #[test]
    fn given_an_answer_without_any_report_then_prompt_and_completion_are_estimated() {
        let (tokens, estimated) = recorded_tokens(None, true, seen(true, 250, 401));
        // 401 bytes at 4 a token, rounded up.
        assert_eq!((tokens.prompt, tokens.completion, estimated), (250, 101, true));
    }

    #[test]
    fn given_a_client_that_left_mid_stream_before_any_report_then_what_it_was_sent_is_recorded() {
        let (tokens, estimated) = recorded_tokens(None, false, seen(true, 12, 8_000));
        assert_eq!((tokens.prompt, tokens.completion, estimated), (12, 2_000, true));
    }

    #[test]
    fn given_a_stream_cut_after_its_opening_report_then_the_reported_prompt_stands_and_the_completion_is_at_least_the_text(
    ) {
        // Anthropic reports the prompt in `message_start`, the output at the end.
        let opening = Usage::new(3_000, 1, 0);
        let (tokens, estimated) = recorded_tokens(Some(&opening), false, seen(true, 9, 800));
        assert_eq!((tokens.prompt, tokens.completion, estimated), (3_000, 200, true));
        // Cut after more was reported than the text suggests: the report stands.
        let later = Usage::new(3_000, 500, 0);
        let (tokens, estimated) = recorded_tokens(Some(&later), false, seen(true, 9, 800));
        assert_eq!((tokens.prompt, tokens.completion, estimated), (3_000, 500, false));
    }

    #[test]
    fn given_a_finished_report_of_zero_for_what_was_asked_and_sent_then_it_is_estimated_like_no_report() {
        // `"usage": {}` translated: zeros where nothing came.
        let empty = Usage::new(0, 0, 0);
        let (tokens, estimated) = recorded_tokens(Some(&empty), true, seen(true, 250, 401));
        assert_eq!((tokens.prompt, tokens.completion, estimated), (250, 101, true));
        // The prompt reported, the output count missing.
        let half = Usage::new(30, 0, 0);
        let (tokens, estimated) = recorded_tokens(Some(&half), true, seen(true, 250, 401));
        assert_eq!((tokens.prompt, tokens.completion, estimated), (30, 101, true));
        // No text sent (a refusal, an empty answer): zero completion tokens are credible.
        let (tokens, estimated) = recorded_tokens(Some(&half), true, seen(true, 250, 0));
        assert_eq!((tokens.prompt, tokens.completion, estimated), (30, 0, false));
    }

    #[test]
    fn given_no_upstream_answered_then_nothing_is_estimated() {
        let (tokens, estimated) = recorded_tokens(None, false, seen(false, 700, 0));
        assert_eq!((tokens.prompt, tokens.completion, estimated), (0, 0, false));
    }

    #[test]
    fn given_an_absurd_amount_of_text_then_the_estimate_is_within_the_bound() {
        let (tokens, _) = recorded_tokens(None, false, seen(true, u64::MAX, u64::MAX));
        assert_eq!((tokens.prompt, tokens.completion), (MAX_RECORDED_TOKENS, MAX_RECORDED_TOKENS));
    }

    #[test]
    fn given_figures_inside_the_bound_then_they_are_recorded_as_reported() {
        let usage = Usage::new(1_000, 200, 300);
        let counts = token_counts(&usage);
        assert_eq!((counts.prompt, counts.completion, counts.cached), (1_000, 200, 300));
    }
}
