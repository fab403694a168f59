//! Webhooks: endpoints' secrets (sealed at rest), the sender of the deliveries
//! the `webhook_outbox` projector queues, and the writer of deployment cooldown
//! events. The admin use cases are in `crate::admin::webhooks`.

pub mod cooldown;
pub mod crypto;
pub mod guard;
mod sender;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::config::Config;
pub use crypto::SecretBox;

/// How deliveries are sent.
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// Per attempt, from connecting to the response headers.
    pub timeout: Duration,
    pub retry_base: Duration,
    pub retry_max: Duration,
    /// After this long since the event, a failing delivery is given up (`failed`).
    pub max_age: chrono::Duration,
    /// Deliveries sent at once to one endpoint, and in all, by this process.
    pub per_endpoint: usize,
    pub overall: usize,
    /// Due deliveries are looked for at least this often (NOTIFY wakes it sooner).
    pub poll: Duration,
    /// Send only to public addresses (see `guard`).
    pub block_private_addresses: bool,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        WebhookSettings {
            timeout: Duration::from_secs(10),
            retry_base: Duration::from_secs(10),
            retry_max: Duration::from_secs(3600),
            max_age: chrono::Duration::hours(24),
            per_endpoint: 4,
            overall: 64,
            poll: Duration::from_secs(1),
            block_private_addresses: false,
        }
    }
}

impl WebhookSettings {
    pub fn from_config(config: &Config) -> Self {
        WebhookSettings {
            retry_base: Duration::from_millis(config.webhook_retry_base_ms.max(1)),
            retry_max: Duration::from_millis(config.webhook_retry_max_ms.max(config.webhook_retry_base_ms).max(1)),
            // With fast retries (tests, local runs) look for due ones as often.
            poll: Duration::from_millis(config.webhook_retry_base_ms.clamp(50, 1000)),
            block_private_addresses: config.webhook_block_private_addresses,
            ..WebhookSettings::default()
        }
    }
}

pub struct Webhooks {
    pub secrets: SecretBox,
    pool: PgPool,
    settings: WebhookSettings,
    client: reqwest::Client,
    /// Wakes this process's sender at once (a test ping, a redelivery, shutdown).
    wake: Notify,
    stopping: AtomicBool,
    sender: Mutex<Option<JoinHandle<()>>>,
}

impl Webhooks {
    pub fn new(pool: PgPool, config: &Config) -> anyhow::Result<Self> {
        let server_secret = crypto::server_secret(config)?;
        let secrets = SecretBox::new(server_secret.expose().as_bytes())?;
        let settings = WebhookSettings::from_config(config);
        Ok(Webhooks {
            secrets,
            pool,
            client: sender::http_client(&settings),
            settings,
            wake: Notify::new(),
            stopping: AtomicBool::new(false),
            sender: Mutex::new(None),
        })
    }

    /// Starts the sender; it runs until [`shutdown`](Self::shutdown).
    pub fn start_sender(self: &Arc<Self>) {
        let handle = tokio::spawn(Arc::clone(self).send_forever());
        if let Ok(mut sender) = self.sender.lock() {
            *sender = Some(handle);
        }
    }

    /// Stops claiming deliveries and lets the attempts in flight finish and be
    /// recorded (each is bounded by the attempt timeout), so a clean stop never
    /// sends anything twice. Past that bound the rest is cut off: those rows are
    /// still pending and are sent again by the next run.
    pub async fn shutdown(&self) {
        self.stopping.store(true, Ordering::Release);
        self.wake.notify_one();
        let handle = self.sender.lock().ok().and_then(|mut sender| sender.take());
        if let Some(mut handle) = handle {
            let grace = self.settings.timeout + Duration::from_secs(2);
            if tokio::time::timeout(grace, &mut handle).await.is_err() {
                handle.abort();
            }
        }
    }

    fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }

    /// Looks for due deliveries now rather than at the next poll.
    pub fn wake(&self) {
        self.wake.notify_one();
    }
}
