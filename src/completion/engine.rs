//! The completion engine: every ingress (OpenAI chat, Anthropic messages; embeddings
//! and responses next) hands it an [`Exchange`] and renders what it answers. It owns the orchestration: input checks → plan (route, deployments,
//! fallbacks) → admission → attempts (retries with backoff, fallbacks, cooldown)
//! → the first chunk peeked → body or stream → `RequestCompleted` committed
//! before the answer is finished.

use std::future::Future;
use std::time::Instant;

use chrono::Utc;
use futures::{Stream, StreamExt};
use tracing::Instrument;
use uuid::Uuid;

use super::errors::EngineError;
use super::exchange::{Exchange, Piece, PieceStream};
use super::plan::{Plan, RoutePlan, Target};
use super::ticket::{Outcome, Ticket};
use super::CompletionService;
use crate::auth::key_cache::GatewayCaller;
use crate::gateway::openai::Usage;
use crate::gateway::ProviderError;
use crate::routing::health::Availability;
use crate::routing::retry::{backoff, counts_against_deployment, is_rate_limit, is_retryable};
use crate::routing::select::{pick, Candidate};
use crate::usage::quota::{quotas_for, Amounts, QuotaSpec, QuotaSubject, RateLimitStatus, Reservation};
use gaiarouter_domain::request::Attempt;

/// What a stream yields to its ingress.
pub enum StreamEvent<C> {
    /// Content, in the ingress's format.
    Chunk(C),
    /// After the commit: the stream is over. `usage` is what was recorded;
    /// `failure` says the upstream failed mid-stream.
    End { usage: Option<Usage>, failure: Option<EngineError> },
    /// The outcome could not be recorded: the answer must not be finished.
    NotRecorded(EngineError),
}

pub type EngineStream<C> = std::pin::Pin<Box<dyn Stream<Item = StreamEvent<C>> + Send>>;

pub enum Answer<B, C> {
    /// Boxed: a whole answer is far larger than a stream handle.
    Body(Box<B>),
    Stream(EngineStream<C>),
}

pub struct Completion<B, C> {
    pub request_id: Uuid,
    pub answer: Answer<B, C>,
    /// The caller's per-minute limits after this request was admitted.
    pub rate_limits: Option<RateLimitStatus>,
}

/// Why the attempts ended without an answer.
enum Exhausted {
    /// The last attempt's failure.
    Failed(ProviderError),
    /// Nothing could be tried: every deployment is cooling down.
    NothingAvailable,
}

impl CompletionService {
    /// Runs one request to its answer. Errors before any provider was called
    /// record nothing; from admission on, exactly one `RequestCompleted`.
    pub async fn complete<E: Exchange>(
        &self,
        caller: &GatewayCaller,
        exchange: E,
    ) -> Result<Completion<E::Body, E::Chunk>, EngineError> {
        let plan = self.plan(exchange.model())?;
        let (mut ticket, rate_limits) =
            self.admit(caller, &exchange, &plan).instrument(tracing::info_span!("admission")).await?;
        let request_id = ticket.request_id;
        let answer = if exchange.is_stream() {
            let first = self
                .first_answer(&plan, &mut ticket, |target| {
                    let exchange = &exchange;
                    async move { open_stream(exchange.stream(target).await).await }
                })
                .await;
            match first {
                Ok((first, rest)) => Answer::Stream(self.stream(ticket, first, rest, E::chunk_output_bytes)),
                Err(exhausted) => return Err(self.fail(ticket, exhausted, &plan).await),
            }
        } else {
            let body = self
                .first_answer(&plan, &mut ticket, |target| {
                    let exchange = &exchange;
                    async move { exchange.complete(target).await }
                })
                .await;
            match body {
                Ok((body, usage)) => {
                    // Kept by the ticket, recorded even if the client leaves while
                    // the commit waits; the text's length too, in case the report
                    // turns out to be no report (`"usage": {}`).
                    if let Some(usage) = &usage {
                        ticket.set_usage(*usage);
                    }
                    ticket.add_output(E::body_output_bytes(&body));
                    self.finish(ticket, Outcome::success(usage)).await?;
                    Answer::Body(Box::new(body))
                }
                Err(exhausted) => return Err(self.fail(ticket, exhausted, &plan).await),
            }
        };
        Ok(Completion { request_id, answer, rate_limits })
    }

    /// Admits `exchange` for `caller` now: against every quota its limits put it
    /// under, weighing the prompt's estimated tokens (`exchange.estimated_prompt_tokens()`,
    /// worked out once by the caller) and their cost at the first deployment's price.
    pub(super) async fn reserve<E: Exchange>(
        &self,
        caller: &GatewayCaller,
        exchange: &E,
        plan: &Plan,
        estimated_tokens: u64,
        now: chrono::DateTime<Utc>,
    ) -> Result<Reservation, EngineError> {
        let quotas = self.quotas_of(caller, exchange, plan, now);
        if quotas.is_empty() {
            return Ok(Reservation::default());
        }
        let estimate = Amounts {
            requests: 1,
            tokens: i64::try_from(estimated_tokens).unwrap_or(i64::MAX),
            cost: plan.first_price().cost(estimated_tokens, 0, 0).nanos(),
        };
        Ok(self.quotas.admit(&quotas, estimate, now).await?)
    }

    fn quotas_of<E: Exchange>(
        &self,
        caller: &GatewayCaller,
        exchange: &E,
        plan: &Plan,
        now: chrono::DateTime<Utc>,
    ) -> Vec<QuotaSpec> {
        let key_limits = &caller.key.limits;
        let organization_limits = &*caller.organization_limits;
        if key_limits.is_unlimited() && organization_limits.is_unlimited() {
            return Vec::new();
        }
        quotas_for(&QuotaSubject {
            organization_id: caller.key.organization_id,
            api_key_id: caller.key.id,
            organization_limits,
            key_limits,
            model: exchange.model(),
            route: plan.routes.first().map_or(exchange.model(), |r| r.name.as_str()),
            alias: plan.routes.first().and_then(|r| r.alias.as_deref()),
            now,
        })
    }

    async fn admit<E: Exchange>(
        &self,
        caller: &GatewayCaller,
        exchange: &E,
        plan: &Plan,
    ) -> Result<(Ticket, Option<RateLimitStatus>), EngineError> {
        let started_at = Utc::now();
        let request_id = Uuid::now_v7();
        let price = plan.first_price();
        // Weighed by admission, and recorded if an answer's usage never comes.
        let estimated_prompt_tokens = exchange.estimated_prompt_tokens();
        let reservation = self.reserve(caller, exchange, plan, estimated_prompt_tokens, started_at).await?;
        let rate_limits = reservation.rate_limits;
        let first = plan.routes.first().and_then(|r| r.targets.first());
        let provider = first.map(|t| t.provider.name().to_string()).unwrap_or_default();
        // Recorded under the canonical id (`openai/gpt-4o` also when asked for
        // `gpt-4o`) or the route's name: one model, one line in the log and stats.
        let model = plan.routes.first().map_or(exchange.model(), |r| r.name.as_str());
        let mut ticket = Ticket::new(
            request_id,
            caller,
            model.to_string(),
            exchange.ingress(),
            provider.clone(),
            price,
            exchange.is_stream(),
            started_at,
            reservation,
            estimated_prompt_tokens,
            std::sync::Arc::clone(&self.recorder),
        );
        if let Some(first) = first {
            ticket.serve_with(first);
        }
        Ok((ticket, rate_limits))
    }

    /// Tries deployments until one answers: the route's own (by priority, weight
    /// or load, skipping those cooling down, at most `max_attempts`, with backoff
    /// between retries), then each fallback route the same way. A failure that
    /// another attempt cannot fix (a 4xx other than 429) ends the search at once.
    async fn first_answer<'p, T, F, Fut>(&self, plan: &'p Plan, ticket: &mut Ticket, call: F) -> Result<T, Exhausted>
    where
        F: Fn(&'p Target) -> Fut,
        Fut: Future<Output = Result<T, ProviderError>>,
    {
        let mut last_error = None;
        // What no deployment tried so far could express: the answer only if no
        // deployment failed otherwise.
        let mut unsupported = None;
        let mut retries = 0;
        for route in &plan.routes {
            let mut tried = vec![false; route.targets.len()];
            let mut attempts = 0;
            while attempts < route.max_attempts {
                let Some(target) = next_target(route, &mut tried) else { break };
                if retries > 0 {
                    tokio::time::sleep(backoff(retries, rand::random::<f64>())).await;
                }
                attempts += 1;
                ticket.serve_with(target);
                ticket.attempt_started(attempt(target));
                target.health.sent(target.capacity, Instant::now());
                let in_flight = target.health.enter();
                let span = tracing::info_span!(
                    "upstream",
                    deployment = %target.deployment,
                    provider = target.provider.name(),
                    otel.kind = "client",
                );
                let result = call(target).instrument(span).await;
                drop(in_flight);
                match result {
                    Ok(answer) => {
                        target.health.succeeded();
                        ticket.attempt_ended(200, None);
                        ticket.mark_first_token();
                        return Ok(answer);
                    }
                    Err(error @ ProviderError::UnsupportedRequest(_)) => {
                        // This deployment's provider cannot express the request, and
                        // nothing was sent: another deployment (a Claude one for a
                        // Claude-only request) may take it. No attempt, health or backoff.
                        ticket.attempt_abandoned();
                        target.health.unsent(target.capacity, Instant::now());
                        attempts -= 1;
                        unsupported.get_or_insert(error);
                    }
                    Err(error) => {
                        ticket.attempt_ended(upstream_status(&error), Some(error.kind()));
                        if let Some(cooldown) = route.cooldown.filter(|_| counts_against_deployment(&error)) {
                            let rate_limited =
                                is_rate_limit(&error).then(|| error.retry_after().unwrap_or(cooldown.duration));
                            let opened = target.health.failed(
                                Instant::now(),
                                cooldown.after_failures,
                                cooldown.duration,
                                rate_limited,
                            );
                            if opened {
                                tracing::warn!(deployment = %target.deployment, kind = error.kind(), "deployment cooling down");
                            }
                        }
                        let retryable = is_retryable(&error);
                        last_error = Some(error);
                        if !retryable {
                            return Err(Exhausted::Failed(last_error.unwrap_or(ProviderError::StreamCut)));
                        }
                        retries += 1;
                    }
                }
            }
        }
        Err(last_error.or(unsupported).map_or(Exhausted::NothingAvailable, Exhausted::Failed))
    }

    /// Records a request that got no answer and answers its error.
    async fn fail(&self, ticket: Ticket, exhausted: Exhausted, plan: &Plan) -> EngineError {
        let error = match exhausted {
            Exhausted::Failed(error) => EngineError::Upstream(error),
            Exhausted::NothingAvailable => {
                EngineError::NoDeployment(plan.routes.first().map(|r| r.name.clone()).unwrap_or_default())
            }
        };
        match self.finish(ticket, Outcome::failure(error.kind(), error.http_status(), None)).await {
            Ok(()) => error,
            Err(unrecorded) => unrecorded,
        }
    }

    /// The stream after its first piece: content flows through (its generated
    /// bytes counted by `output_bytes`, for an estimate should no usage come); at
    /// the end the outcome is committed, and only then the end is yielded.
    fn stream<C: Send + 'static>(
        &self,
        mut ticket: Ticket,
        first: Piece<C>,
        mut upstream: PieceStream<C>,
        output_bytes: fn(&C) -> usize,
    ) -> EngineStream<C> {
        // The stream outlives the handler (and `&self`): it keeps what finishing needs.
        let recorder = std::sync::Arc::clone(&self.recorder);
        Box::pin(async_stream::stream! {
            let mut pending = Some(first);
            let mut failure: Option<ProviderError> = None;
            loop {
                let item = match pending.take() {
                    Some(piece) => Some(Ok(piece)),
                    None => upstream.next().await,
                };
                match item {
                    None => break,
                    Some(Err(error)) => {
                        failure = Some(error);
                        break;
                    }
                    Some(Ok(piece)) => {
                        if let Some(usage) = piece.usage {
                            ticket.set_usage(usage);
                        }
                        if let Some(chunk) = piece.chunk {
                            ticket.add_output(output_bytes(&chunk));
                            yield StreamEvent::Chunk(chunk);
                        }
                    }
                }
            }
            let usage = ticket.usage().copied();
            let outcome = match &failure {
                None => Outcome::success(usage),
                Some(error) => Outcome::failure(error.kind(), error.http_status(), usage),
            };
            if let Err(unrecorded) = super::finish(&recorder, ticket, outcome).await {
                yield StreamEvent::NotRecorded(unrecorded);
                return;
            }
            yield StreamEvent::End { usage, failure: failure.map(EngineError::Upstream) };
        })
    }
}

/// Picks the next deployment of `route` for this request and claims it (a
/// cooled-down deployment whose time is up lets exactly one request probe it).
fn next_target<'p>(route: &'p RoutePlan, tried: &mut [bool]) -> Option<&'p Target> {
    loop {
        let now = Instant::now();
        let candidates: Vec<Candidate> = route
            .targets
            .iter()
            .zip(tried.iter())
            .map(|(target, tried)| Candidate {
                weight: target.weight,
                priority: target.priority,
                in_flight: target.health.in_flight(),
                available: (route.cooldown.is_none() || target.health.looks_available(now))
                    && target.health.has_capacity(target.capacity, now),
                tried: *tried,
            })
            .collect();
        let index = pick(&candidates, route.strategy, rand::random::<f64>())?;
        tried[index] = true;
        let target = &route.targets[index];
        if route.cooldown.is_none() || target.health.availability(now) == Availability::Available {
            return Some(target);
        }
    }
}

/// An attempt at `target`, its outcome still to come.
fn attempt(target: &Target) -> Attempt {
    Attempt {
        deployment: target.deployment.clone(),
        provider: target.provider.name().to_string(),
        model: target.upstream_model.clone(),
        http_status: 0,
        error_kind: None,
        latency_ms: 0,
    }
}

/// The upstream's own status, 0 when it never answered.
fn upstream_status(error: &ProviderError) -> u16 {
    match error {
        ProviderError::UpstreamClientError { status, .. } | ProviderError::UpstreamServerError { status, .. } => {
            *status
        }
        _ => 0,
    }
}

/// A stream counts as answered once its first piece arrived; an upstream that
/// fails or ends before it failed the attempt (so another deployment may serve).
async fn open_stream<C>(
    opened: Result<PieceStream<C>, ProviderError>,
) -> Result<(Piece<C>, PieceStream<C>), ProviderError> {
    let mut stream = opened?;
    match stream.next().await {
        Some(Ok(first)) => Ok((first, stream)),
        Some(Err(error)) => Err(error),
        None => Err(ProviderError::StreamCut),
    }
}
