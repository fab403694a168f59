//! This process's leases: admission spends blocks of quota taken from
//! PostgreSQL, locally, and goes back to the database only when a block runs
//! out (one round trip per block instead of per request).
//!
//! Per quota there is an entry with what the process holds unspent. A request
//! takes one request (and, where limited, marks its estimated tokens and cost)
//! from each of its quotas: locally when the entry has some left, else from a
//! new block. Only one block is fetched per quota at a time; other requests for
//! it wait and then find the block. A request that ends unrecorded gives its
//! share back to the entry; a recorded one settles it in the database (the
//! recorder passes the draws to `record_requests`): what it really used comes out
//! of the block, so the block and the entry always agree. Requests in flight are
//! slots: they come back to the entry when the request ends. A background task
//! gives back what sits unused, so other processes can have it, and at once any
//! block that requests overdrew (so the database sees the real usage).
//!
//! A quota the database found exhausted is remembered as such for a moment (a
//! second at most, never past the end of its window; a tenth of a second for
//! requests in flight, and until a slot frees here): a client hammering a key
//! over its limit is refused from memory, not with a database round trip per
//! request. Memory only ever refuses, so limits still hold; what it costs is that
//! capacity freed by another process (a lease given back) admits up to that
//! moment later. A changed limit is not answered from memory.
//!
//! Exactness: what a process holds is reserved in the database, so all blocks
//! plus all usage never exceed a request limit. Tokens and cost are known only
//! when a request ends: a request is admitted while any is left, so those limits
//! are overshot by at most what requests in flight use beyond what is left.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use gaiarouter_domain::limits::{Metric, Period};
use sqlx::PgPool;

use super::plan::{QuotaKey, QuotaSpec, Window};
use super::refusal::Refusal;
use super::store::{self, Amounts, Taken};
use super::AdmissionError;

/// The most requests a block holds (fewer near a limit: an eighth of what is
/// left, at least one).
const BLOCK_REQUESTS: i64 = 64;
/// Unused blocks go back after this long without use...
const IDLE: Duration = Duration::from_secs(1);
/// ...or this long after they were taken, so busy processes share too.
const MAX_AGE: Duration = Duration::from_secs(5);
/// How long an exhausted budget or per-minute window is answered from memory...
const REFUSAL_MEMORY: Duration = Duration::from_secs(1);
/// ...and requests in flight, whose slots free as soon as requests end.
const SLOT_REFUSAL_MEMORY: Duration = Duration::from_millis(100);

/// The database found this quota exhausted: refused from memory until `until`.
#[derive(Clone, Copy)]
struct Exhausted {
    until: Instant,
    metric: Metric,
    /// The limits it was refused under: another limit asks the database again.
    limits: Option<(Option<i64>, Option<i64>, Option<i64>)>,
}

/// What this process holds of one quota.
struct Local {
    /// Unspent (negative when estimates overdrew a token or cost block).
    available: Amounts,
    /// Requests taken and not yet settled (recorded or given back).
    outstanding: i64,
    /// What the database had left after the last block: with `available`, the
    /// remaining count the rate-limit headers report.
    left_requests: Option<i64>,
    left_tokens: Option<i64>,
    /// The limits the block was granted under. A block of an older limit is not
    /// spent: after a limit changes only the database admits, until it grants a
    /// block under the new one (a lowered limit holds at once).
    limits: Option<(Option<i64>, Option<i64>, Option<i64>)>,
    /// Give back what is held at once: slots freed while the cap was reached,
    /// which other processes may be waiting for.
    urgent: bool,
    /// Refused by the database a moment ago (see the module's comment).
    exhausted: Option<Exhausted>,
    touched: Instant,
    renewed: Instant,
}

fn limits_of(spec: &QuotaSpec) -> Option<(Option<i64>, Option<i64>, Option<i64>)> {
    Some((spec.requests, spec.tokens, spec.cost))
}

struct Entry {
    local: Mutex<Local>,
    /// Held while a block is fetched: one fetch per quota at a time.
    fetch: tokio::sync::Mutex<()>,
    /// Wakes the returner for an urgent give-back.
    wake: Arc<tokio::sync::Notify>,
}

impl Entry {
    fn new(wake: Arc<tokio::sync::Notify>) -> Entry {
        let now = Instant::now();
        Entry {
            local: Mutex::new(Local {
                available: Amounts::default(),
                outstanding: 0,
                left_requests: None,
                left_tokens: None,
                limits: None,
                urgent: false,
                exhausted: None,
                touched: now,
                renewed: now,
            }),
            fetch: tokio::sync::Mutex::new(()),
            wake,
        }
    }

    fn local(&self) -> std::sync::MutexGuard<'_, Local> {
        self.local.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes one request from what is held, if there is one (and, for limited
    /// tokens or cost, any of them): the estimates may overdraw what is left.
    fn try_take(&self, spec: &QuotaSpec, estimate: Amounts) -> Option<Amounts> {
        let mut local = self.local();
        let enough = local.limits == limits_of(spec)
            && local.available.requests >= 1
            && (spec.tokens.is_none() || local.available.tokens > 0)
            && (spec.cost.is_none() || local.available.cost > 0);
        if !enough {
            return None;
        }
        let amounts = draw_of(spec, estimate);
        local.available -= amounts;
        local.outstanding += 1;
        local.touched = Instant::now();
        Some(amounts)
    }

    /// The metric this quota was found exhausted on, while that is remembered.
    fn remembered_refusal(&self, spec: &QuotaSpec) -> Option<Metric> {
        let local = self.local();
        let exhausted = local.exhausted?;
        (exhausted.until > Instant::now() && exhausted.limits == limits_of(spec)).then_some(exhausted.metric)
    }

    /// The database refused this quota: remembered for a moment, never past the
    /// end of its window.
    fn remember_refusal(&self, spec: &QuotaSpec, metric: Metric, now: DateTime<Utc>) {
        let memory = match spec.key.window {
            Window::Concurrent => SLOT_REFUSAL_MEMORY,
            Window::Period(period) => period
                .window_end(now)
                .and_then(|end| (end - now).to_std().ok())
                .map_or(REFUSAL_MEMORY, |left| left.min(REFUSAL_MEMORY)),
        };
        self.local().exhausted = Some(Exhausted { until: Instant::now() + memory, metric, limits: limits_of(spec) });
    }

    /// An unrecorded request's share comes back whole.
    fn give_back(&self, amounts: Amounts) {
        let mut local = self.local();
        local.available += amounts;
        local.outstanding -= 1;
    }

    /// Holds again what was taken out for a give-back or a request that the
    /// database call behind it did not complete.
    fn restore(&self, amounts: Amounts) {
        self.local().available += amounts;
    }

    /// A recorded request drew `used` from the block where it had marked its
    /// estimate: the difference comes out of (or back to) what is left.
    fn settle(&self, estimate: Amounts, used: Amounts) {
        let mut local = self.local();
        // `used` and `estimate` both count the one request: only tokens and cost differ.
        local.available -= used - estimate;
        local.outstanding -= 1;
    }

    /// A slot in flight is free again. When the cap was reached at the last
    /// grant, the slot goes back to the database at once: another process may be
    /// refusing requests for want of it.
    fn free_slot(&self) {
        let mut local = self.local();
        local.available.requests += 1;
        local.outstanding -= 1;
        local.exhausted = None;
        if local.left_requests == Some(0) {
            local.urgent = true;
            self.wake.notify_one();
        }
    }
}

/// What a request takes from a quota: one request, and its estimates where
/// tokens or cost are limited. A slot in flight is one request.
fn draw_of(spec: &QuotaSpec, estimate: Amounts) -> Amounts {
    Amounts {
        requests: 1,
        tokens: if spec.tokens.is_some() { estimate.tokens } else { 0 },
        cost: if spec.cost.is_some() { estimate.cost } else { 0 },
    }
}

pub struct Quotas {
    pool: PgPool,
    process: i32,
    entries: Mutex<HashMap<QuotaKey, Arc<Entry>>>,
    wake: Arc<tokio::sync::Notify>,
}

/// One quota's share of an admitted request.
struct Share {
    key: QuotaKey,
    entry: Arc<Entry>,
    /// What it took: one request, and the estimates of limited tokens and cost.
    amounts: Amounts,
    /// A slot of requests in flight, not a draw.
    slot: bool,
    limits_tokens: bool,
    limits_cost: bool,
}

impl Share {
    /// What the request drew from this lease, given what it used.
    fn used(&self, tokens: i64, cost: i64) -> Amounts {
        Amounts {
            requests: 1,
            tokens: if self.limits_tokens { tokens } else { 0 },
            cost: if self.limits_cost { cost } else { 0 },
        }
    }
}

/// What an admitted request holds until it ends. Dropped unrecorded, it gives
/// everything back to this process's leases; recorded, its draws are settled by
/// the database and only its slots come back.
#[derive(Default)]
pub struct Reservation {
    shares: Vec<Share>,
    /// The per-minute limits' state after this admission, for the
    /// `x-ratelimit-*` headers.
    pub rate_limits: Option<RateLimitStatus>,
}

/// One limit as OpenAI's `x-ratelimit-*` headers report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub limit: i64,
    pub remaining: i64,
    pub resets_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RateLimitStatus {
    pub requests: Option<RateLimit>,
    pub tokens: Option<RateLimit>,
}

/// A request's draw from one lease, as the recorder settles it.
pub struct Draw<'a> {
    pub key: &'a QuotaKey,
    pub amounts: Amounts,
}

impl Reservation {
    /// The draws to settle when the request is recorded, given the tokens and
    /// cost (nano-USD) it used (slots are not drawn: they come back when the
    /// request ends).
    pub fn draws(&self, tokens: i64, cost: i64) -> impl Iterator<Item = Draw<'_>> {
        self.shares.iter().filter(|s| !s.slot).map(move |s| Draw { key: &s.key, amounts: s.used(tokens, cost) })
    }

    /// The request was recorded with these draws: they are settled.
    pub fn recorded(mut self, tokens: i64, cost: i64) {
        for share in std::mem::take(&mut self.shares) {
            if share.slot {
                self.shares.push(share);
            } else {
                share.entry.settle(share.amounts, share.used(tokens, cost));
            }
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        for share in self.shares.drain(..) {
            if share.slot {
                share.entry.free_slot();
            } else {
                share.entry.give_back(share.amounts);
            }
        }
    }
}

impl Quotas {
    pub fn new(pool: PgPool, process: i32) -> Self {
        Quotas { pool, process, entries: Mutex::new(HashMap::new()), wake: Arc::default() }
    }

    pub fn process(&self) -> i32 {
        self.process
    }

    fn entry(&self, key: &QuotaKey) -> Arc<Entry> {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(entries.entry(key.clone()).or_insert_with(|| Arc::new(Entry::new(Arc::clone(&self.wake)))))
    }

    /// Admits a request against `quotas` (in key order), or refuses it naming the
    /// first exhausted limit. No quotas: admitted at once, no database.
    pub async fn admit(
        &self,
        quotas: &[QuotaSpec],
        estimate: Amounts,
        now: DateTime<Utc>,
    ) -> Result<Reservation, AdmissionError> {
        let mut reservation = Reservation::default();
        if quotas.is_empty() {
            return Ok(reservation);
        }
        let entries: Vec<Arc<Entry>> = quotas.iter().map(|q| self.entry(&q.key)).collect();
        let mut missing = Vec::new();
        for (i, (spec, entry)) in quotas.iter().zip(&entries).enumerate() {
            match entry.try_take(spec, estimate) {
                Some(amounts) => reservation.shares.push(share(spec, entry, amounts)),
                None => missing.push(i),
            }
        }
        // A quota just found exhausted is refused from memory (the shares taken
        // above go back when the reservation drops).
        for &i in &missing {
            if let Some(metric) = entries[i].remembered_refusal(&quotas[i]) {
                return Err(AdmissionError::LimitReached(Box::new(Refusal::of(&quotas[i], metric, now))));
            }
        }
        if !missing.is_empty() {
            // One fetch per quota at a time, locked in key order (no deadlock
            // between requests that need the same quotas).
            let mut fetching = Vec::with_capacity(missing.len());
            for &i in &missing {
                fetching.push(entries[i].fetch.lock().await);
            }
            // Another request may have fetched a block meanwhile.
            missing.retain(|&i| match entries[i].try_take(&quotas[i], estimate) {
                Some(amounts) => {
                    reservation.shares.push(share(&quotas[i], &entries[i], amounts));
                    false
                }
                None => true,
            });
            // ...or the fetch this request waited for found it exhausted.
            for &i in &missing {
                if let Some(metric) = entries[i].remembered_refusal(&quotas[i]) {
                    return Err(AdmissionError::LimitReached(Box::new(Refusal::of(&quotas[i], metric, now))));
                }
            }
            if !missing.is_empty() {
                for (i, amounts) in self.fetch(quotas, &entries, &missing, estimate, now).await? {
                    reservation.shares.push(share(&quotas[i], &entries[i], amounts));
                }
            }
            drop(fetching);
        }
        reservation.rate_limits = rate_limits(quotas, &entries, now);
        Ok(reservation)
    }

    /// Fetches a block for each quota in `missing`, adds it to its entry and takes
    /// this request's share of it in the same step (so requests on the fast path
    /// cannot take the block first and starve this one). The database call runs
    /// on its own task: if this request is cancelled meanwhile (its client left),
    /// the task gives its shares back to the entries, never granted and lost.
    async fn fetch(
        &self,
        quotas: &[QuotaSpec],
        entries: &[Arc<Entry>],
        missing: &[usize],
        estimate: Amounts,
        now: DateTime<Utc>,
    ) -> Result<Vec<(usize, Amounts)>, AdmissionError> {
        let specs: Vec<QuotaSpec> = missing.iter().map(|&i| quotas[i].clone()).collect();
        let targets: Vec<Arc<Entry>> = missing.iter().map(|&i| Arc::clone(&entries[i])).collect();
        let indexes = missing.to_vec();
        let (pool, process) = (self.pool.clone(), self.process);
        let (answer, answered) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            let outcome = fetch_and_take(&pool, process, &specs, &targets, estimate).await;
            if let Ok(Taken::Refused { index, metric }) = &outcome {
                if let (Some(spec), Some(entry)) = (specs.get(*index), targets.get(*index)) {
                    entry.remember_refusal(spec, *metric, now);
                }
            }
            let taken = match &outcome {
                Ok(Taken::Granted(_)) => {
                    indexes.iter().copied().zip(specs.iter().map(|s| draw_of(s, estimate))).collect()
                }
                _ => Vec::new(),
            };
            if let Err((_, taken, specs)) = answer.send((outcome, taken, specs)) {
                // The request is gone: its shares go back to the entries.
                // (Refusals and errors took nothing.)
                for ((_, amounts), entry) in taken.iter().zip(&targets) {
                    entry.give_back(*amounts);
                }
                drop(specs);
            }
        });
        let (outcome, taken, specs) = answered
            .await
            .map_err(|_| AdmissionError::Database(sqlx::Error::Protocol("the lease task stopped".into())))?;
        match outcome? {
            Taken::Granted(_) => Ok(taken),
            Taken::Refused { index, metric } => {
                let spec = specs.get(index).unwrap_or(&quotas[missing[0]]);
                Err(AdmissionError::LimitReached(Box::new(Refusal::of(spec, metric, now))))
            }
        }
    }

    /// Gives back what has sat unused (idle, old, or of a window that has ended);
    /// with `all`, everything unspent (at shutdown).
    pub async fn give_back_unused(&self, all: bool) -> Result<usize, sqlx::Error> {
        let now = Instant::now();
        let wall = Utc::now();
        let mut returns = Vec::new();
        {
            let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
            entries.retain(|key, entry| {
                // A block being fetched is added to this entry: keep it.
                let Ok(_fetching) = entry.fetch.try_lock() else { return true };
                let mut local = entry.local();
                let ended = match key.window {
                    Window::Period(Period::Minute) => Period::Minute.window_end(key.start).is_some_and(|e| e <= wall),
                    _ => false,
                };
                let overdrawn = local.available.tokens < 0 || local.available.cost < 0;
                let unused = all
                    || ended
                    || overdrawn
                    || local.urgent
                    || now.duration_since(local.touched) >= IDLE
                    || now.duration_since(local.renewed) >= MAX_AGE;
                if unused && local.available != Amounts::default() {
                    returns.push((key.clone(), local.available));
                    local.available = Amounts::default();
                    local.left_requests = None;
                    local.left_tokens = None;
                }
                local.urgent = false;
                // Forgotten only when nothing refers to it but this map (no request
                // is admitting with it or holds a share of it): a block fetched into
                // a forgotten entry would never be given back.
                let forgotten = Arc::strong_count(entry) == 1;
                !(unused && forgotten && local.outstanding == 0 && local.available == Amounts::default())
            });
        }
        let count = returns.len();
        if let Err(error) = store::give_back(&self.pool, self.process, &returns).await {
            // Still held in the database: hold it here again.
            for (key, amounts) in returns {
                self.entry(&key).restore(amounts);
            }
            return Err(error);
        }
        Ok(count)
    }

    /// Gives back unused blocks every quarter of a second until aborted.
    pub fn spawn_returner(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let quotas = Arc::clone(self);
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_millis(250));
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = every.tick() => {}
                    () = quotas.wake.notified() => {}
                }
                if let Err(error) = quotas.give_back_unused(false).await {
                    tracing::warn!(%error, "giving back unused quota leases failed; retrying");
                }
            }
        })
    }
}

/// Gives back blocks granted under limits that have changed since, takes a block
/// of each quota and, when all are granted, this request's share of each.
async fn fetch_and_take(
    pool: &PgPool,
    process: i32,
    specs: &[QuotaSpec],
    targets: &[Arc<Entry>],
    estimate: Amounts,
) -> Result<Taken, sqlx::Error> {
    // Blocks of limits that have changed go back first, so the new limit is
    // weighed against what is really used; so does a block that requests used
    // more of than was left (the database must see that usage before it grants).
    let mut stale = Vec::new();
    let mut stale_entries = Vec::new();
    for (entry, spec) in targets.iter().zip(specs) {
        let mut local = entry.local();
        let changed = local.limits.is_some() && local.limits != limits_of(spec);
        let overdrawn = local.available.tokens < 0 || local.available.cost < 0;
        if (changed || overdrawn) && local.available != Amounts::default() {
            stale.push((spec.key.clone(), local.available));
            stale_entries.push(Arc::clone(entry));
            local.available = Amounts::default();
        }
    }
    if let Err(error) = store::give_back(pool, process, &stale).await {
        for ((_, amounts), entry) in stale.iter().zip(&stale_entries) {
            entry.restore(*amounts);
        }
        return Err(error);
    }
    // What the entries still hold is taken for this request now; only what they
    // lack is asked for (asking for tokens a block still has would reserve ever
    // more of the limit with every fetch).
    let mut wants = Vec::with_capacity(specs.len());
    let mut held = Vec::with_capacity(specs.len());
    for (entry, spec) in targets.iter().zip(specs) {
        let mut local = entry.local();
        let draw = draw_of(spec, estimate);
        let (mut want, mut took) = (Amounts::default(), Amounts::default());
        if local.available.requests >= 1 {
            local.available.requests -= draw.requests;
            took.requests = draw.requests;
        } else {
            want.requests = BLOCK_REQUESTS;
        }
        if spec.tokens.is_some() {
            if local.available.tokens > 0 {
                local.available.tokens -= draw.tokens;
                took.tokens = draw.tokens;
            } else {
                want.tokens = estimate.tokens.max(1);
            }
        }
        if spec.cost.is_some() {
            if local.available.cost > 0 {
                local.available.cost -= draw.cost;
                took.cost = draw.cost;
            } else {
                want.cost = estimate.cost.max(1);
            }
        }
        wants.push(want);
        held.push(took);
    }
    let refs: Vec<&QuotaSpec> = specs.iter().collect();
    let taken = match store::take(pool, process, &refs, &wants).await {
        Ok(taken) => taken,
        Err(error) => {
            give_back_held(targets, &held);
            return Err(error);
        }
    };
    match &taken {
        Taken::Granted(grants) => {
            for (((entry, grant), spec), took) in targets.iter().zip(grants).zip(specs).zip(&held) {
                let mut local = entry.local();
                local.limits = limits_of(spec);
                local.available += Amounts { requests: grant.requests, tokens: grant.tokens, cost: grant.cost };
                local.left_requests = grant.left_requests;
                local.left_tokens = grant.left_tokens;
                local.renewed = Instant::now();
                // The rest of this request's share, taken with the block: nobody
                // can take it first.
                local.available -= draw_of(spec, estimate) - *took;
                local.outstanding += 1;
                local.touched = Instant::now();
            }
        }
        Taken::Refused { .. } => give_back_held(targets, &held),
    }
    Ok(taken)
}

/// Puts back what was taken from entries for a request that was not admitted.
fn give_back_held(targets: &[Arc<Entry>], held: &[Amounts]) {
    for (entry, took) in targets.iter().zip(held) {
        entry.restore(*took);
    }
}

fn share(spec: &QuotaSpec, entry: &Arc<Entry>, amounts: Amounts) -> Share {
    Share {
        key: spec.key.clone(),
        entry: Arc::clone(entry),
        amounts,
        slot: spec.key.window == Window::Concurrent,
        limits_tokens: spec.tokens.is_some(),
        limits_cost: spec.cost.is_some(),
    }
}

/// The tightest per-minute limits after this admission: for each of requests
/// and tokens, the limit with the least remaining.
fn rate_limits(quotas: &[QuotaSpec], entries: &[Arc<Entry>], now: DateTime<Utc>) -> Option<RateLimitStatus> {
    let mut status = RateLimitStatus::default();
    for (spec, entry) in quotas.iter().zip(entries) {
        if spec.key.window != Window::Period(Period::Minute) {
            continue;
        }
        let resets_at = Period::Minute.window_end(now).unwrap_or(now);
        let local = entry.local();
        let tighter = |current: Option<RateLimit>, limit: Option<i64>, left: Option<i64>, held: i64| {
            let Some(limit) = limit else { return current };
            let remaining = (left.unwrap_or(0) + held).clamp(0, limit);
            let candidate = RateLimit { limit, remaining, resets_at };
            match current {
                Some(c) if c.remaining <= remaining => Some(c),
                _ => Some(candidate),
            }
        };
        status.requests = tighter(status.requests, spec.requests, local.left_requests, local.available.requests);
        status.tokens = tighter(status.tokens, spec.tokens, local.left_tokens, local.available.tokens);
    }
    (status != RateLimitStatus::default()).then_some(status)
}
