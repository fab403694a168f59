//! Sends pending deliveries. Every process runs a sender; a delivery is claimed
//! by moving its `next_attempt_at` past the attempt's timeout in one UPDATE that
//! re-checks it is still due, so two processes never send the same attempt (a
//! crash mid-attempt only delays the next one until the claim lapses).
//!
//! Concurrency is bounded overall and per endpoint: a receiver that hangs holds
//! at most `per_endpoint` slots for at most the timeout each, and the others keep
//! being served. Nothing here runs on a request's path.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sqlx::postgres::PgListener;
use tokio::task::JoinSet;
use uuid::Uuid;

use super::crypto::sign;
use super::{WebhookSettings, Webhooks};
use gaiarouter_projections::runner::quarantine::bounded;
use gaiarouter_projections::webhook_outbox::DELIVERIES_CHANNEL;

/// Longest error text kept per attempt.
const MAX_ERROR_CHARS: usize = 300;
/// Due deliveries looked at per round.
const CLAIM_WINDOW: i64 = 500;

#[derive(sqlx::FromRow)]
struct Claimed {
    id: Uuid,
    endpoint_id: Uuid,
    message_id: String,
    body: String,
    attempts: i32,
    created_at: DateTime<Utc>,
    url: String,
    secret_nonce: String,
    secret_ciphertext: String,
}

/// What one attempt got.
struct Outcome {
    status: Option<u16>,
    latency_ms: i64,
    error: Option<String>,
}

impl Outcome {
    fn delivered(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// Deliveries in flight on this process, per endpoint.
#[derive(Default)]
struct InFlight {
    per_endpoint: HashMap<Uuid, usize>,
    total: usize,
}

pub(super) fn http_client(settings: &WebhookSettings) -> reqwest::Client {
    let builder = reqwest::Client::builder();
    let builder = match settings.block_private_addresses {
        true => builder.dns_resolver(super::guard::PublicOnly),
        false => builder,
    };
    builder
        .timeout(settings.timeout)
        .connect_timeout(settings.timeout)
        // A redirect could lead a signed delivery anywhere (and a 3xx is not a receipt).
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("GaiaRouter-Webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_default()
}

/// `base × 2^(attempt-1)`, capped, times a jitter in [0.75, 1.25) so that many
/// failed deliveries to one receiver do not all come back at the same instant.
pub(super) fn backoff(settings: &WebhookSettings, attempt: i32, jitter: f64) -> Duration {
    let exponent = u32::try_from(attempt.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
    let raw = settings.retry_base.saturating_mul(2_u32.saturating_pow(exponent)).min(settings.retry_max);
    raw.mul_f64(0.75 + 0.5 * jitter.clamp(0.0, 1.0))
}

impl Webhooks {
    /// Runs until aborted: claims due deliveries and sends them.
    pub(super) async fn send_forever(self: Arc<Self>) {
        let in_flight = Arc::new(Mutex::new(InFlight::default()));
        let mut tasks = JoinSet::new();
        let mut listener = None;
        loop {
            if self.is_stopping() {
                while tasks.join_next().await.is_some() {}
                return;
            }
            if listener.is_none() {
                listener = match PgListener::connect_with(&self.pool).await {
                    Ok(mut l) => l.listen(DELIVERIES_CHANNEL).await.ok().map(|()| l),
                    Err(_) => None,
                };
            }
            if let Err(error) = self.dispatch(&in_flight, &mut tasks).await {
                tracing::warn!(%error, "claiming webhook deliveries failed");
            }
            while tasks.try_join_next().is_some() {}
            let poll = tokio::time::sleep(self.settings.poll);
            tokio::select! {
                notified = async { match listener.as_mut() { Some(l) => l.recv().await.map(|_| ()), None => std::future::pending().await } } => {
                    if notified.is_err() { listener = None; }
                }
                _ = self.wake.notified() => {}
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
                () = poll => {}
            }
        }
    }

    /// Claims what may be sent now within the concurrency bounds and starts it.
    async fn dispatch(
        self: &Arc<Self>,
        in_flight: &Arc<Mutex<InFlight>>,
        tasks: &mut JoinSet<()>,
    ) -> anyhow::Result<()> {
        let (busy, free_total, mut free_of): (Vec<Uuid>, usize, HashMap<Uuid, usize>) = {
            let state = in_flight.lock().map_err(|_| anyhow::anyhow!("in-flight table poisoned"))?;
            let busy = state
                .per_endpoint
                .iter()
                .filter(|(_, n)| **n >= self.settings.per_endpoint)
                .map(|(id, _)| *id)
                .collect();
            let free_of =
                state.per_endpoint.iter().map(|(id, n)| (*id, self.settings.per_endpoint.saturating_sub(*n))).collect();
            (busy, self.settings.overall.saturating_sub(state.total), free_of)
        };
        if free_total == 0 {
            return Ok(());
        }
        let candidates: Vec<(Uuid, Uuid)> = sqlx::query_as(
            "WITH due AS ( \
               SELECT d.id, d.endpoint_id, d.next_attempt_at, \
                      row_number() OVER (PARTITION BY d.endpoint_id ORDER BY d.next_attempt_at, d.id) AS n \
               FROM webhook_deliveries d JOIN webhook_endpoint_view e ON e.id = d.endpoint_id \
               WHERE d.status = 'pending' AND d.next_attempt_at <= now() AND NOT e.deleted AND e.enabled \
                 AND d.endpoint_id <> ALL($1) \
               ORDER BY d.next_attempt_at LIMIT $3) \
             SELECT id, endpoint_id FROM due WHERE n <= $2 ORDER BY next_attempt_at, id",
        )
        .bind(&busy)
        .bind(i64::try_from(self.settings.per_endpoint).unwrap_or(i64::MAX))
        .bind(CLAIM_WINDOW)
        .fetch_all(&self.pool)
        .await?;
        let mut chosen = Vec::new();
        for (id, endpoint) in candidates {
            if chosen.len() >= free_total {
                break;
            }
            let free = free_of.entry(endpoint).or_insert(self.settings.per_endpoint);
            if *free > 0 {
                *free -= 1;
                chosen.push(id);
            }
        }
        if chosen.is_empty() {
            return Ok(());
        }
        let lease_ms = i64::try_from((self.settings.timeout + Duration::from_secs(20)).as_millis()).unwrap_or(i64::MAX);
        let claimed: Vec<Claimed> = sqlx::query_as(
            "UPDATE webhook_deliveries d \
               SET next_attempt_at = now() + $2 * interval '1 millisecond', attempts = d.attempts + 1, \
                   updated_at = now() \
             FROM webhook_endpoint_view e \
             WHERE d.id = ANY($1) AND e.id = d.endpoint_id AND d.status = 'pending' AND d.next_attempt_at <= now() \
             RETURNING d.id, d.endpoint_id, d.message_id, d.body, d.attempts, d.created_at, e.url, \
                       e.secret_nonce, e.secret_ciphertext",
        )
        .bind(&chosen)
        .bind(lease_ms)
        .fetch_all(&self.pool)
        .await?;
        for delivery in claimed {
            if let Ok(mut state) = in_flight.lock() {
                *state.per_endpoint.entry(delivery.endpoint_id).or_default() += 1;
                state.total += 1;
            }
            let this = Arc::clone(self);
            let in_flight = Arc::clone(in_flight);
            tasks.spawn(async move {
                let endpoint = delivery.endpoint_id;
                if let Err(error) = this.attempt(delivery).await {
                    tracing::warn!(%error, endpoint = %endpoint, "recording a webhook attempt failed");
                }
                if let Ok(mut state) = in_flight.lock() {
                    if let Some(n) = state.per_endpoint.get_mut(&endpoint) {
                        *n = n.saturating_sub(1);
                        if *n == 0 {
                            state.per_endpoint.remove(&endpoint);
                        }
                    }
                    state.total = state.total.saturating_sub(1);
                }
            });
        }
        Ok(())
    }

    /// Sends one claimed delivery and records the attempt and its consequence.
    async fn attempt(&self, delivery: Claimed) -> Result<(), sqlx::Error> {
        let attempted_at = Utc::now();
        let outcome = match self.secrets.open(delivery.endpoint_id, &delivery.secret_nonce, &delivery.secret_ciphertext)
        {
            Ok(secret) => self.post(&delivery, &secret).await,
            Err(error) => Outcome { status: None, latency_ms: 0, error: Some(error.to_string()) },
        };
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO webhook_attempts (delivery_id, attempt, attempted_at, status_code, latency_ms, error) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        )
        .bind(delivery.id)
        .bind(delivery.attempts)
        .bind(attempted_at)
        .bind(outcome.status.map(i32::from))
        .bind(outcome.latency_ms)
        .bind(&outcome.error)
        .execute(&mut *tx)
        .await?;
        if outcome.delivered() {
            sqlx::query(
                "UPDATE webhook_deliveries SET status = 'delivered', delivered_at = now(), last_status = $2, \
                   last_error = NULL, updated_at = now() WHERE id = $1 AND attempts = $3",
            )
            .bind(delivery.id)
            .bind(outcome.status.map(i32::from))
            .bind(delivery.attempts)
            .execute(&mut *tx)
            .await?;
        } else {
            let give_up = Utc::now() - delivery.created_at > self.settings.max_age;
            let wait = backoff(&self.settings, delivery.attempts, rand::random::<f64>());
            let wait_ms = i64::try_from(wait.as_millis()).unwrap_or(i64::MAX);
            sqlx::query(
                "UPDATE webhook_deliveries SET status = CASE WHEN $4 THEN 'failed' ELSE 'pending' END, \
                   next_attempt_at = now() + $5 * interval '1 millisecond', last_status = $2, last_error = $3, \
                   updated_at = now() WHERE id = $1 AND attempts = $6",
            )
            .bind(delivery.id)
            .bind(outcome.status.map(i32::from))
            .bind(&outcome.error)
            .bind(give_up)
            .bind(wait_ms)
            .bind(delivery.attempts)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await
    }

    async fn post(&self, delivery: &Claimed, secret: &str) -> Outcome {
        let timestamp = Utc::now().timestamp();
        let Some(signature) = sign(secret, &delivery.message_id, timestamp, &delivery.body) else {
            return Outcome { status: None, latency_ms: 0, error: Some("the signing secret is malformed".into()) };
        };
        if self.settings.block_private_addresses && super::guard::names_private_ip(&delivery.url) {
            let error = "the receiver's address is private (webhook_block_private_addresses)".to_string();
            return Outcome { status: None, latency_ms: 0, error: Some(error) };
        }
        let started = Instant::now();
        let sent = self
            .client
            .post(&delivery.url)
            .header("content-type", "application/json")
            .header("webhook-id", &delivery.message_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(delivery.body.clone())
            .send()
            .await;
        let latency_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
        match sent {
            Ok(response) => {
                let status = response.status();
                let error = (!status.is_success()).then(|| match status.is_redirection() {
                    true => format!("HTTP {} (redirects are not followed)", status.as_u16()),
                    false => format!("HTTP {}", status.as_u16()),
                });
                Outcome { status: Some(status.as_u16()), latency_ms, error }
            }
            Err(error) => {
                let kind = if error.is_timeout() {
                    "timed out"
                } else if error.is_connect() {
                    "connection failed"
                } else {
                    "request failed"
                };
                // Without the URL: a receiver's URL may carry a token in its query.
                let detail = error.without_url().to_string();
                Outcome {
                    status: None,
                    latency_ms,
                    error: Some(bounded(&format!("{kind}: {detail}"), MAX_ERROR_CHARS)),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_the_base_up_to_the_cap_with_jitter() {
        let settings = WebhookSettings {
            retry_base: Duration::from_secs(10),
            retry_max: Duration::from_secs(3600),
            ..WebhookSettings::default()
        };
        assert_eq!(backoff(&settings, 1, 0.5), Duration::from_secs(10));
        assert_eq!(backoff(&settings, 3, 0.5), Duration::from_secs(40));
        assert_eq!(backoff(&settings, 40, 0.5), Duration::from_secs(3600));
        assert_eq!(backoff(&settings, 1, 0.0), Duration::from_millis(7_500));
        assert!(backoff(&settings, 1, 1.0) <= Duration::from_millis(12_500));
    }
}
