//! Recording refused requests: a request of a known key that GaiaRouter turned
//! away before any provider (over a limit, invalid, unknown model, revoked key,
//! suspended organization, no deployment available).
//!
//! A refusal is answered at once; its record is not awaited. The refusals of a
//! short window are folded, per key × model × API × status × reason, into one
//! `RequestRefused` event carrying how many it stands for, and a writer of their
//! own appends them: a tenant hammering a key that is over its limit costs one
//! hash-map update per request and a few rows per second, and never sits in the
//! group commit of the requests that are served (it has its own connection and
//! its own commits).
//!
//! What is lost: refusals folded in memory when the process is killed with -9
//! (at most one window's worth). A served request is never in here.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use gaiarouter_domain::request::refused::{self, model_as_sent, printable, RefusalEvent, RequestRefused};
use gaiarouter_domain::request::AGGREGATE_TYPE;
use serde_json::json;
use sqlx::PgPool;
use tokio::sync::{oneshot, Notify};
use tokio::task::JoinHandle;
use uuid::Uuid;

/// How long refusals are folded before they are written.
const FOLD_WINDOW: Duration = Duration::from_millis(250);
/// Distinct folds held at once. Beyond it, a refusal with a new model is folded
/// under the model `*` (its key, status and reason kept): a client inventing
/// model names cannot grow this map, and no refusal goes uncounted.
const MAX_FOLDS: usize = 512;
/// The model a fold stands for when the map was full.
const ANY_MODEL: &str = "*";
/// Waiting after a failed write before trying again (the folds are kept).
const RETRY_AFTER: Duration = Duration::from_secs(1);
/// A key refused more often than this within one fold window (40 a second) is
/// being hammered: its further refusals are answered after a pause (configured;
/// a second by default). The pause costs a sleeping task, and a client that
/// ignores `retry-after` slows itself down instead of the gateway.
const HAMMERED: u64 = 10;

/// One refusal as answered.
#[derive(Debug, Clone, Copy)]
pub struct Refused<'a> {
    pub organization_id: Uuid,
    pub api_key_id: Uuid,
    /// The model id as the client sent it ("" when the body could not be read).
    pub model: &'a str,
    /// "chat_completions" or "messages".
    pub ingress: &'static str,
    pub http_status: u16,
    /// The error code answered.
    pub reason: &'a str,
    pub message: &'a str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct FoldKey {
    organization_id: Uuid,
    api_key_id: Uuid,
    model: String,
    ingress: &'static str,
    http_status: u16,
    reason: String,
}

#[derive(Debug, Clone)]
struct Fold {
    message: String,
    count: u64,
    first_at: DateTime<Utc>,
    last_at: DateTime<Utc>,
}

impl Fold {
    fn absorb(&mut self, other: Fold) {
        self.count = self.count.saturating_add(other.count);
        self.first_at = self.first_at.min(other.first_at);
        self.last_at = self.last_at.max(other.last_at);
    }
}

#[derive(Default)]
struct Folds {
    map: Mutex<HashMap<FoldKey, Fold>>,
    wake: Notify,
}

impl Folds {
    /// Folds in a refusal; answers how many its fold now counts.
    fn add(&self, key: FoldKey, fold: Fold) -> u64 {
        let Ok(mut map) = self.map.lock() else { return 0 };
        let was_empty = map.is_empty();
        let key = if map.len() >= MAX_FOLDS && !map.contains_key(&key) {
            FoldKey { model: ANY_MODEL.to_string(), ..key }
        } else {
            key
        };
        let count = match map.get_mut(&key) {
            Some(existing) => {
                existing.absorb(fold);
                existing.count
            }
            None => {
                let count = fold.count;
                map.insert(key, fold);
                count
            }
        };
        drop(map);
        if was_empty {
            self.wake.notify_one();
        }
        count
    }

    fn take(&self) -> HashMap<FoldKey, Fold> {
        self.map.lock().map(|mut map| std::mem::take(&mut *map)).unwrap_or_default()
    }
}

pub struct Refusals {
    folds: Arc<Folds>,
    metrics: Arc<crate::observability::Metrics>,
    /// The pause for a hammering key (`None`: never).
    pause: Option<Duration>,
    stop: Mutex<Option<oneshot::Sender<()>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

impl Refusals {
    /// `pause`: how long a hammering key's refusals wait before they are answered.
    /// `metrics` counts each refusal as it is folded.
    pub fn start(pool: PgPool, pause: Duration, metrics: Arc<crate::observability::Metrics>) -> Self {
        let folds = Arc::new(Folds::default());
        let (stop, stopped) = oneshot::channel();
        let writer = tokio::spawn(write_loop(pool, Arc::clone(&folds), stopped));
        let pause = (!pause.is_zero()).then_some(pause);
        Refusals { folds, metrics, pause, stop: Mutex::new(Some(stop)), writer: Mutex::new(Some(writer)) }
    }

    /// Counts a refusal; never waits. Answers how long to pause before answering
    /// it: nothing, unless the key is hammering (see `HAMMERED`).
    pub fn refuse(&self, refused: Refused<'_>) -> Option<Duration> {
        let now = Utc::now();
        let key = FoldKey {
            organization_id: refused.organization_id,
            api_key_id: refused.api_key_id,
            model: model_as_sent(refused.model),
            ingress: refused.ingress,
            http_status: refused.http_status,
            reason: printable(refused.reason, refused::MAX_REASON_LEN),
        };
        let fold = Fold {
            message: printable(refused.message, refused::MAX_MESSAGE_LEN),
            count: 1,
            first_at: now,
            last_at: now,
        };
        let count = self.folds.add(key, fold);
        crate::observability::request_refused(&self.metrics, &refused);
        self.pause.filter(|_| count > HAMMERED)
    }

    /// Writes what is folded and stops.
    pub async fn shutdown(&self) {
        let stop = self.stop.lock().ok().and_then(|mut s| s.take());
        if let Some(stop) = stop {
            let _ = stop.send(());
        }
        let writer = self.writer.lock().ok().and_then(|mut w| w.take());
        if let Some(writer) = writer {
            if let Err(error) = writer.await {
                tracing::error!(%error, "refusal writer failed");
            }
        }
    }
}

async fn write_loop(pool: PgPool, folds: Arc<Folds>, mut stopped: oneshot::Receiver<()>) {
    loop {
        tokio::select! {
            _ = folds.wake.notified() => {}
            _ = &mut stopped => break,
        }
        // Let the window fill: every refusal in it becomes part of one fold.
        tokio::select! {
            _ = tokio::time::sleep(FOLD_WINDOW) => {}
            _ = &mut stopped => break,
        }
        let batch = folds.take();
        if let Err(error) = write(&pool, &batch).await {
            tracing::error!(%error, folds = batch.len(), "writing refused requests failed; keeping them to retry");
            for (key, fold) in batch {
                folds.add(key, fold);
            }
            tokio::select! {
                _ = tokio::time::sleep(RETRY_AFTER) => {}
                _ = &mut stopped => break,
            }
            folds.wake.notify_one();
        }
    }
    let rest = folds.take();
    if let Err(error) = write(&pool, &rest).await {
        tracing::error!(%error, folds = rest.len(), "refused requests could not be written at shutdown");
    }
}

/// Appends one `RequestRefused` event per fold. Every string in it was made
/// printable and bounded when it was folded, so no payload can be refused by the
/// database for its content.
async fn write(pool: &PgPool, folds: &HashMap<FoldKey, Fold>) -> Result<(), sqlx::Error> {
    let events: Vec<(Uuid, RequestRefused)> = folds
        .iter()
        .map(|(key, fold)| {
            let event = RequestRefused {
                organization_id: key.organization_id,
                api_key_id: key.api_key_id,
                model: key.model.clone(),
                ingress: key.ingress.to_string(),
                http_status: key.http_status,
                reason: key.reason.clone(),
                message: fold.message.clone(),
                count: fold.count,
                first_at: fold.first_at,
                last_at: fold.last_at,
            };
            (Uuid::now_v7(), event)
        })
        .collect();
    append(pool, &events).await
}

/// Appends `RequestRefused` events (each its own `Request` stream) in one statement.
pub async fn append(pool: &PgPool, events: &[(Uuid, RequestRefused)]) -> Result<(), sqlx::Error> {
    if events.is_empty() {
        return Ok(());
    }
    let mut ids = Vec::with_capacity(events.len());
    let mut payloads = Vec::with_capacity(events.len());
    let mut metadata = Vec::with_capacity(events.len());
    for (id, event) in events {
        ids.push(id.to_string());
        metadata.push(json!({"actor_type": "api_key", "actor_id": event.api_key_id.to_string()}));
        payloads.push(serde_json::to_value(RefusalEvent::RequestRefused(event.clone())).unwrap_or_default());
    }
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata) \
         SELECT $1, id, 1, $2, $3, payload, meta FROM UNNEST($4::text[], $5::jsonb[], $6::jsonb[]) AS a(id, payload, meta)",
    )
    .bind(AGGREGATE_TYPE)
    .bind(refused::EVENT_TYPE)
    .bind(refused::EVENT_VERSION)
    .bind(&ids)
    .bind(&payloads)
    .bind(&metadata)
    .execute(pool)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(model: &str) -> FoldKey {
        FoldKey {
            organization_id: Uuid::from_u128(1),
            api_key_id: Uuid::from_u128(2),
            model: model.into(),
            ingress: "chat_completions",
            http_status: 429,
            reason: "api_key_requests_per_minute_limit".into(),
        }
    }

    fn one(at: i64) -> Fold {
        let at = DateTime::from_timestamp(at, 0).unwrap_or_default();
        Fold { message: "over".into(), count: 1, first_at: at, last_at: at }
    }

    #[test]
    fn given_identical_refusals_when_folded_then_one_fold_counts_them_all() {
        let folds = Folds::default();
        for at in [5, 3, 9] {
            folds.add(key("gpt-4o"), one(at));
        }
        assert_eq!(folds.add(key("gpt-4o"), one(4)), 4, "answers the fold's count");
        let taken = folds.take();
        assert_eq!(taken.len(), 1);
        let fold = &taken[&key("gpt-4o")];
        assert_eq!((fold.count, fold.first_at.timestamp(), fold.last_at.timestamp()), (4, 3, 9));
        assert!(folds.take().is_empty(), "taking empties the folds");
    }

    #[test]
    fn given_a_full_map_when_new_models_arrive_then_they_fold_under_any_model_and_all_are_counted() {
        let folds = Folds::default();
        for i in 0..MAX_FOLDS + 100 {
            folds.add(key(&format!("model-{i}")), one(1));
        }
        let taken = folds.take();
        assert_eq!(taken.len(), MAX_FOLDS + 1);
        assert_eq!(taken[&key(ANY_MODEL)].count, 100);
        assert_eq!(taken.values().map(|f| f.count).sum::<u64>(), (MAX_FOLDS + 100) as u64);
    }
}
