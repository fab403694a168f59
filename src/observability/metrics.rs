//! Prometheus metrics of one gateway process, rendered by `GET /metrics`.
//!
//! One function per hook, each cheap on the hot path: label values are interned
//! (see `labels`) and the handles of each label set are registered once and kept,
//! so a request that completes costs a few map lookups and atomic adds, and no
//! allocation once its series exists. The recorder belongs to this value, not to
//! the process: two servers in one process (the tests) keep their own counts.
//!
//! Requests are counted where their outcome is committed (the recorder, the
//! refusal writer), so the counters say what the request log says.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gaiarouter_domain::request::{RequestCompleted, RequestStatus};
use metrics::{Counter, Gauge, Histogram, Key, Label, Metadata, Recorder, SharedString, Unit};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder};

use super::labels::{self, KnownModel, LabelTable, ModelLabels};

/// Distinct models, providers, deployments or refusal reasons labelled at most;
/// past it a value is labelled `other`.
const MAX_LABEL_VALUES: usize = 500;

const REQUESTS: &str = "gaiarouter_requests_total";
const REQUEST_DURATION: &str = "gaiarouter_request_duration_seconds";
const TIME_TO_FIRST_TOKEN: &str = "gaiarouter_time_to_first_token_seconds";
const UPSTREAM_DURATION: &str = "gaiarouter_upstream_duration_seconds";
const TOKENS: &str = "gaiarouter_tokens_total";
const COST: &str = "gaiarouter_cost_nanos_total";
const REFUSED: &str = "gaiarouter_admissions_refused_total";
const BATCH_SIZE: &str = "gaiarouter_recorder_batch_size";
const COMMIT_DURATION: &str = "gaiarouter_recorder_commit_seconds";
const PROJECTOR_POSITION: &str = "gaiarouter_projector_position";
const PROJECTOR_LAG_EVENTS: &str = "gaiarouter_projector_lag_events";
const PROJECTOR_LAG_SECONDS: &str = "gaiarouter_projector_lag_seconds";
const PROJECTOR_QUARANTINED: &str = "gaiarouter_projector_quarantined_events";
const DB_POOL: &str = "gaiarouter_db_pool_connections";
const DB_OLDEST_SNAPSHOT: &str = "gaiarouter_db_oldest_snapshot_seconds";
const RESIDENT_MEMORY: &str = "process_resident_memory_bytes";

/// How often the histograms' samples are folded into their buckets. Until then
/// each sample is kept in the recorder's lock-free list: without it a gateway
/// nobody scrapes grew by every request's samples, ~82 bytes a request
/// (`tests/metrics_allocations.rs`), ~80 MB a million.
pub const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// Latencies from 5 ms to 5 minutes (a long completion stream).
const SECONDS_BUCKETS: [f64; 14] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0];
/// Records per group commit, up to the recorder's largest batch (512).
const BATCH_BUCKETS: [f64; 10] = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0];

static METADATA: Metadata<'static> = Metadata::new("gaiarouter", metrics::Level::INFO, Some(module_path!()));

/// The label set of a request series.
#[derive(Clone, PartialEq, Eq, Hash)]
struct RequestLabels {
    model: Arc<str>,
    provider: Arc<str>,
    deployment: Arc<str>,
    status: &'static str,
    status_class: &'static str,
    ingress: &'static str,
}

#[derive(Clone)]
struct RequestSeries {
    requests: Counter,
    duration: Histogram,
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct UsageLabels {
    model: Arc<str>,
    provider: Arc<str>,
    ingress: &'static str,
}

#[derive(Clone)]
struct UsageSeries {
    prompt: Counter,
    completion: Counter,
    cached: Counter,
    cost: Counter,
    time_to_first_token: Histogram,
}

/// Handles by label set, registered on first use.
struct Series<K, V> {
    map: Mutex<HashMap<K, V>>,
}

impl<K: Eq + Hash, V: Clone> Series<K, V> {
    fn new() -> Self {
        Series { map: Mutex::new(HashMap::new()) }
    }

    fn get(&self, key: K, register: impl FnOnce(&K) -> V) -> Option<V> {
        let mut map = self.map.lock().ok()?;
        if let Some(series) = map.get(&key) {
            return Some(series.clone());
        }
        let series = register(&key);
        map.insert(key, series.clone());
        Some(series)
    }
}

/// What a scrape reads of a projector.
pub struct ProjectorGauges<'a> {
    pub name: &'a str,
    pub position: i64,
    pub lag_events: i64,
    pub lag_seconds: f64,
    pub quarantined: i64,
}

pub struct Metrics {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
    models: ModelLabels,
    /// Providers, deployments and refusal reasons: values GaiaRouter or its
    /// operators chose, capped all the same.
    names: LabelTable,
    requests: Series<RequestLabels, RequestSeries>,
    usage: Series<UsageLabels, UsageSeries>,
    upstream: Series<(Arc<str>, Arc<str>, &'static str), Histogram>,
    refused: Series<(Arc<str>, &'static str), Counter>,
    batch_size: Histogram,
    commit_duration: Histogram,
}

impl Metrics {
    /// `known` says which model ids may be labelled by name (see `labels`).
    pub fn new(known: KnownModel) -> Self {
        let recorder = builder().build_recorder();
        let handle = recorder.handle();
        describe(&recorder);
        let batch_size = recorder.register_histogram(&Key::from_static_name(BATCH_SIZE), &METADATA);
        let commit_duration = recorder.register_histogram(&Key::from_static_name(COMMIT_DURATION), &METADATA);
        Metrics {
            recorder,
            handle,
            models: ModelLabels::new(known, MAX_LABEL_VALUES),
            names: LabelTable::new(MAX_LABEL_VALUES),
            requests: Series::new(),
            usage: Series::new(),
            upstream: Series::new(),
            refused: Series::new(),
            batch_size,
            commit_duration,
        }
    }

    /// A recorder for a running process: [`Metrics::new`] with its upkeep running
    /// every [`UPKEEP_EVERY`] (see [`spawn_upkeep`]). Needs a tokio runtime.
    pub fn start(known: KnownModel) -> Arc<Self> {
        let metrics = Arc::new(Metrics::new(known));
        spawn_upkeep(&metrics, UPKEEP_EVERY);
        metrics
    }

    /// Folds the samples recorded since the last upkeep into their histograms'
    /// buckets and frees them. Run by [`spawn_upkeep`] and before each scrape.
    pub fn run_upkeep(&self) {
        self.handle.run_upkeep();
    }

    /// The model label `model` gets (its name, or `unknown`).
    pub fn model_label(&self, model: &str) -> Arc<str> {
        self.models.label(model)
    }

    /// A served (or failed) request, once its `RequestCompleted` is committed.
    pub fn request_completed(&self, event: &RequestCompleted) {
        let model = self.models.label(&event.model);
        let provider = self.names.get(&event.provider);
        let ingress = labels::ingress(&event.ingress);
        let status = if event.status == RequestStatus::Success { "ok" } else { "error" };
        let request = RequestLabels {
            model: Arc::clone(&model),
            provider: Arc::clone(&provider),
            deployment: self.names.get(&event.deployment),
            status,
            status_class: labels::status_class(event.http_status),
            ingress,
        };
        if let Some(series) = self.requests.get(request, |l| self.register_request(l)) {
            series.requests.increment(1);
            series.duration.record(millis(event.latency_ms));
        }
        if let Some(usage) = self.usage.get(UsageLabels { model, provider, ingress }, |l| self.register_usage(l)) {
            usage.prompt.increment(event.prompt_tokens);
            usage.completion.increment(event.completion_tokens);
            usage.cached.increment(event.cached_tokens);
            usage.cost.increment(u64::try_from(event.cost.nanos()).unwrap_or(0));
            if let Some(ttft) = event.time_to_first_token_ms {
                usage.time_to_first_token.record(millis(ttft));
            }
        }
        for attempt in &event.attempts {
            let outcome = match attempt.http_status {
                200..=299 => "ok",
                0 => "no_answer",
                _ => "error",
            };
            let key = (self.names.get(&attempt.provider), self.names.get(&attempt.deployment), outcome);
            if let Some(histogram) = self.upstream.get(key, |k| self.register_upstream(k)) {
                histogram.record(millis(attempt.latency_ms));
            }
        }
    }

    /// A request refused before any provider (`reason`: the error code answered).
    pub fn request_refused(&self, model: &str, ingress: &str, http_status: u16, reason: &str) {
        let ingress = labels::ingress(ingress);
        let request = RequestLabels {
            model: self.models.label(model),
            provider: self.names.get(""),
            deployment: self.names.get(""),
            status: "refused",
            status_class: labels::status_class(http_status),
            ingress,
        };
        if let Some(series) = self.requests.get(request, |l| self.register_request(l)) {
            series.requests.increment(1);
        }
        if let Some(counter) = self.refused.get((self.names.get(reason), ingress), |k| self.register_refused(k)) {
            counter.increment(1);
        }
    }

    /// One group commit of the usage recorder: how many records, how long.
    pub fn batch_committed(&self, records: usize, took: Duration) {
        self.batch_size.record(records as f64);
        self.commit_duration.record(took.as_secs_f64());
    }

    /// Refreshes what is read at scrape time and renders every series.
    pub fn render(&self, pool: &PoolGauges, projectors: &[ProjectorGauges<'_>]) -> String {
        let gauge = |name: &'static str, labels: Vec<Label>| -> Gauge {
            self.recorder.register_gauge(&Key::from_parts(name, labels), &METADATA)
        };
        for (state, value) in
            [("size", pool.size), ("idle", pool.idle), ("in_use", pool.size.saturating_sub(pool.idle))]
        {
            gauge(DB_POOL, vec![Label::from_static_parts("state", state)]).set(f64::from(value));
        }
        if let Some(seconds) = pool.oldest_snapshot_seconds {
            gauge(DB_OLDEST_SNAPSHOT, Vec::new()).set(seconds);
        }
        if let Some(bytes) = resident_memory_bytes() {
            gauge(RESIDENT_MEMORY, Vec::new()).set(bytes as f64);
        }
        for projector in projectors {
            let labels = || vec![Label::new("projector", projector.name.to_string())];
            gauge(PROJECTOR_POSITION, labels()).set(projector.position as f64);
            gauge(PROJECTOR_LAG_EVENTS, labels()).set(projector.lag_events as f64);
            gauge(PROJECTOR_LAG_SECONDS, labels()).set(projector.lag_seconds);
            gauge(PROJECTOR_QUARANTINED, labels()).set(projector.quarantined as f64);
        }
        self.run_upkeep();
        self.handle.render()
    }

    fn register_request(&self, labels: &RequestLabels) -> RequestSeries {
        let set = || {
            vec![
                label("model", &labels.model),
                label("provider", &labels.provider),
                label("deployment", &labels.deployment),
                Label::from_static_parts("status", labels.status),
                Label::from_static_parts("http_status_class", labels.status_class),
                Label::from_static_parts("ingress", labels.ingress),
            ]
        };
        RequestSeries {
            requests: self.recorder.register_counter(&Key::from_parts(REQUESTS, set()), &METADATA),
            duration: self.recorder.register_histogram(&Key::from_parts(REQUEST_DURATION, set()), &METADATA),
        }
    }

    fn register_usage(&self, labels: &UsageLabels) -> UsageSeries {
        let set = || {
            vec![
                label("model", &labels.model),
                label("provider", &labels.provider),
                Label::from_static_parts("ingress", labels.ingress),
            ]
        };
        let tokens = |kind: &'static str| {
            let mut labels = set();
            labels.push(Label::from_static_parts("kind", kind));
            self.recorder.register_counter(&Key::from_parts(TOKENS, labels), &METADATA)
        };
        UsageSeries {
            prompt: tokens("prompt"),
            completion: tokens("completion"),
            cached: tokens("cached"),
            cost: self.recorder.register_counter(&Key::from_parts(COST, set()), &METADATA),
            time_to_first_token: self
                .recorder
                .register_histogram(&Key::from_parts(TIME_TO_FIRST_TOKEN, set()), &METADATA),
        }
    }

    fn register_upstream(&self, (provider, deployment, outcome): &(Arc<str>, Arc<str>, &'static str)) -> Histogram {
        let labels = vec![
            label("provider", provider),
            label("deployment", deployment),
            Label::from_static_parts("outcome", outcome),
        ];
        self.recorder.register_histogram(&Key::from_parts(UPSTREAM_DURATION, labels), &METADATA)
    }

    fn register_refused(&self, (reason, ingress): &(Arc<str>, &'static str)) -> Counter {
        let labels = vec![label("reason", reason), Label::from_static_parts("ingress", ingress)];
        self.recorder.register_counter(&Key::from_parts(REFUSED, labels), &METADATA)
    }
}

/// The database pool as a scrape sees it.
pub struct PoolGauges {
    pub size: u32,
    pub idle: u32,
    /// `postgres::oldest_snapshot_age`; `None` when it could not be read.
    pub oldest_snapshot_seconds: Option<f64>,
}

/// Runs [`Metrics::run_upkeep`] every `every` for as long as `metrics` lives
/// elsewhere (the task holds it weakly, so a server that stops takes it along).
pub fn spawn_upkeep(metrics: &Arc<Metrics>, every: Duration) -> tokio::task::JoinHandle<()> {
    let metrics = Arc::downgrade(metrics);
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            match metrics.upgrade() {
                Some(metrics) => metrics.run_upkeep(),
                None => return,
            }
        }
    })
}

fn label(name: &'static str, value: &Arc<str>) -> Label {
    Label::new(name, SharedString::from(Arc::clone(value)))
}

fn millis(ms: u64) -> f64 {
    ms as f64 / 1000.0
}

fn builder() -> PrometheusBuilder {
    let seconds = Matcher::Suffix("_seconds".to_string());
    let batch = Matcher::Full(BATCH_SIZE.to_string());
    let configured = PrometheusBuilder::new()
        .set_buckets_for_metric(seconds, &SECONDS_BUCKETS)
        .and_then(|builder| builder.set_buckets_for_metric(batch, &BATCH_BUCKETS));
    // Only an empty bucket list is refused, and ours are constants.
    configured.unwrap_or_else(|_| PrometheusBuilder::new())
}

fn describe(recorder: &PrometheusRecorder) {
    let help: [(&'static str, Option<Unit>, &'static str); 16] = [
        (REQUESTS, None, "Requests that reached admission, by outcome (ok, error, refused)."),
        (REQUEST_DURATION, Some(Unit::Seconds), "Time from admission to the recorded outcome."),
        (TIME_TO_FIRST_TOKEN, Some(Unit::Seconds), "Time from admission to the first upstream piece."),
        (UPSTREAM_DURATION, Some(Unit::Seconds), "Duration of each upstream attempt."),
        (TOKENS, None, "Tokens recorded, by kind (prompt, completion, cached)."),
        (COST, None, "Cost recorded, in nanos of a dollar."),
        (REFUSED, None, "Requests refused before any provider, by reason."),
        (BATCH_SIZE, None, "Records written per group commit."),
        (COMMIT_DURATION, Some(Unit::Seconds), "Duration of one group commit."),
        (PROJECTOR_POSITION, None, "Global position of the last event a projector applied."),
        (PROJECTOR_LAG_EVENTS, None, "Events a projector has not applied yet."),
        (PROJECTOR_LAG_SECONDS, Some(Unit::Seconds), "Age of the oldest event a projector has not applied."),
        (PROJECTOR_QUARANTINED, None, "Events a projector skipped because it cannot apply them."),
        (DB_POOL, None, "Database pool connections by state (size, idle, in_use)."),
        (
            DB_OLDEST_SNAPSHOT,
            Some(Unit::Seconds),
            "Age of the oldest open transaction holding a snapshot in the database (it holds back cleanup).",
        ),
        (RESIDENT_MEMORY, Some(Unit::Bytes), "Resident memory of this process."),
    ];
    for (name, unit, text) in help {
        let key = metrics::KeyName::from_const_str(name);
        if name.ends_with("_total") {
            recorder.describe_counter(key, unit, SharedString::const_str(text));
        } else if matches!(
            name,
            REQUEST_DURATION | TIME_TO_FIRST_TOKEN | UPSTREAM_DURATION | BATCH_SIZE | COMMIT_DURATION
        ) {
            recorder.describe_histogram(key, unit, SharedString::const_str(text));
        } else {
            recorder.describe_gauge(key, unit, SharedString::const_str(text));
        }
    }
}

/// Resident set size from `/proc/self/status` (`VmRSS`, in kB); `None` off Linux.
fn resident_memory_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}
