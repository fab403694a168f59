//! The metrics hook on the request path allocates nothing once a request's
//! series exist: label values are interned and handles kept (see
//! `observability::metrics`); the samples it keeps are freed by the upkeep. Its
//! own test binary, because it counts every allocation through a global allocator.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::print_stdout, clippy::print_stderr)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use gaiarouter::observability::Metrics;
use gaiarouter_domain::request::{Attempt, RequestCompleted, RequestStatus};
use gaiarouter_domain::Money;
use uuid::Uuid;

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

/// Bytes allocated and not yet freed, by every thread.
static LIVE_BYTES: AtomicI64 = AtomicI64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|count| count.set(count.get() + 1));
        LIVE_BYTES.fetch_add(layout.size() as i64, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size() as i64, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
}

fn live_bytes() -> i64 {
    LIVE_BYTES.load(Ordering::Relaxed)
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

fn completed(model: &str, latency_ms: u64) -> RequestCompleted {
    let now = Utc::now();
    RequestCompleted {
        organization_id: Uuid::now_v7(),
        api_key_id: Uuid::now_v7(),
        model: model.into(),
        deployment: "fast/only".into(),
        attempts: vec![Attempt {
            deployment: "fast/only".into(),
            provider: "openai".into(),
            model: "gpt-4o-mini".into(),
            http_status: 200,
            error_kind: None,
            latency_ms,
        }],
        provider: "openai".into(),
        prompt_tokens: 11,
        completion_tokens: 7,
        cached_tokens: 0,
        cost: Money::from_nanos(1_234),
        latency_ms,
        time_to_first_token_ms: Some(latency_ms / 2),
        status: RequestStatus::Success,
        http_status: 200,
        error_kind: None,
        streamed: true,
        started_at: now,
        finished_at: now,
        ingress: "chat_completions".into(),
        cache_write_tokens: 0,
        cache_write_1h_tokens: 0,
        reasoning_tokens: 0,
        usage_estimated: false,
    }
}

#[test]
fn a_completed_request_whose_series_exist_is_counted_without_allocating_for_its_labels() {
    let metrics = Metrics::new(Box::new(|model| model == "fast"));
    let events: Vec<RequestCompleted> =
        (0..1_000).map(|i| completed(if i % 2 == 0 { "fast" } else { "made-up" }, i)).collect();
    // The first sight of each label set registers its series.
    metrics.request_completed(&events[0]);
    metrics.request_completed(&events[1]);

    let before = allocations();
    let started = std::time::Instant::now();
    for event in &events {
        metrics.request_completed(event);
    }
    let took = started.elapsed();
    let per_request = (allocations() - before) as f64 / events.len() as f64;
    // Printed, not asserted: a figure for the README, not a timed test.
    println!(
        "allocations per completed request: {per_request:.3}; {:.0} ns per request (debug build)",
        took.as_nanos() as f64 / events.len() as f64
    );
    // The histograms' lock-free buckets grow by a block now and then; no
    // allocation is per request.
    assert!(per_request < 0.5, "{per_request} allocations per request");
}

#[test]
fn the_first_request_of_a_new_label_set_registers_its_series_once() {
    let metrics = Metrics::new(Box::new(|_| true));
    let before = allocations();
    metrics.request_completed(&completed("fast", 10));
    let first = allocations() - before;
    let before = allocations();
    metrics.request_completed(&completed("fast", 10));
    let second = allocations() - before;
    println!("allocations: first {first}, then {second}");
    assert!(first > second, "registration happens once: {first} then {second}");
}

/// Each histogram sample is kept until an upkeep folds it into its buckets: a
/// gateway nobody scrapes must still run it, or it grows by every request.
#[tokio::test(flavor = "current_thread")]
async fn the_upkeep_frees_the_samples_the_histograms_keep_without_a_scrape() {
    let metrics = Arc::new(Metrics::new(Box::new(|model| model == "fast")));
    let event = completed("fast", 10);
    metrics.request_completed(&event);
    metrics.run_upkeep();
    let before = live_bytes();
    for _ in 0..100_000 {
        metrics.request_completed(&event);
        metrics.batch_committed(1, Duration::from_micros(800));
    }
    let kept = live_bytes() - before;
    println!("kept by 100,000 requests before an upkeep: {kept} bytes");
    assert!(kept > 1_000_000, "the samples are kept until an upkeep: {kept} bytes");

    // The server's upkeep task, on a short period here.
    let upkeep = gaiarouter::observability::metrics::spawn_upkeep(&metrics, Duration::from_millis(20));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let left = live_bytes() - before;
    println!("left after the upkeep ran: {left} bytes");
    // Most at once; the lock-free list hands some blocks to a later collection.
    assert!(left < kept / 2, "the upkeep freed them: {left} of {kept} bytes left");
    for _ in 0..100_000 {
        metrics.request_completed(&event);
        metrics.batch_committed(1, Duration::from_micros(800));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let after_more = live_bytes() - before;
    println!("left after 100,000 more and the upkeep: {after_more} bytes");
    assert!(after_more < kept / 2, "bounded, not growing with requests: {after_more} bytes");

    // It holds the metrics weakly: dropping them ends it.
    drop(metrics);
    tokio::time::timeout(Duration::from_secs(1), upkeep).await.unwrap().unwrap();
}
