//! The admin write side: runs commands against the event store with optimistic
//! concurrency (conflicts retried), records who did it, and keeps the admin views
//! current before answering (read-your-writes).

pub mod api_keys;
mod error;
pub mod names;
pub mod operators;
pub mod organizations;
pub mod read;
pub mod routes;
pub mod routes_file;
pub mod webhooks;

use std::sync::Arc;
use std::time::Duration;

use cqrs_es::event_sink::EventSink;
use cqrs_es::persist::PersistedEventStore;
use cqrs_es::{Aggregate, AggregateContext, AggregateError, EventEnvelope, EventStore};
use gaiarouter_domain::api_key::ApiKey;
use gaiarouter_domain::operator::Operator;
use gaiarouter_domain::organization::Organization;
use gaiarouter_domain::route::Route;
use gaiarouter_domain::webhook::WebhookEndpoint;
use gaiarouter_projections::admin_views::{self, AdminView};
use postgres_es::PostgresEventRepository;
use sqlx::PgPool;
use uuid::Uuid;

pub use crate::auth::Actor;
pub use error::AdminError;

use crate::auth::key_cache::KeyCache;
use crate::routing::RouteTable;

type Store<A> = PersistedEventStore<PostgresEventRepository, A>;

/// How often a command is retried when another writer changed the aggregate first.
const MAX_ATTEMPTS: u32 = 30;

/// The result of a command: the state before and after, and what was recorded.
pub struct Executed<A: cqrs_es::Aggregate> {
    pub before: A,
    pub after: A,
    pub events: Vec<EventEnvelope<A>>,
}

pub struct AdminService {
    pub pool: PgPool,
    /// The gateway's key cache, refreshed right after each command (read-your-writes
    /// for authentication too); other processes follow through NOTIFY.
    key_cache: Arc<KeyCache>,
    /// The gateway's route table, refreshed the same way (a route works on this
    /// process as soon as its command answered).
    pub route_table: Arc<RouteTable>,
    organizations: Store<Organization>,
    api_keys: Store<ApiKey>,
    operators: Store<Operator>,
    routes: Store<Route>,
    webhooks: Store<WebhookEndpoint>,
}

impl AdminService {
    pub fn new(pool: PgPool, key_cache: Arc<KeyCache>) -> Self {
        let repository = || PostgresEventRepository::new(pool.clone());
        Self {
            organizations: PersistedEventStore::new_event_store(repository()),
            api_keys: PersistedEventStore::new_event_store(repository()),
            operators: PersistedEventStore::new_event_store(repository()),
            routes: PersistedEventStore::new_event_store(repository()),
            webhooks: PersistedEventStore::new_event_store(repository()),
            route_table: Arc::new(RouteTable::default()),
            pool,
            key_cache,
        }
    }

    /// Runs one command, retrying on version conflicts, then refreshes the view.
    async fn execute<A>(
        &self,
        store: &Store<A>,
        id: Uuid,
        command: impl Fn() -> A::Command,
        actor: &Actor,
    ) -> Result<Executed<A>, AdminError>
    where
        A: AdminView<Services = ()> + Clone,
        AdminError: From<A::Error>,
    {
        let aggregate_id = id.to_string();
        let metadata = actor.metadata();
        for attempt in 0..MAX_ATTEMPTS {
            let mut context = store.load_aggregate(&aggregate_id).await.map_err(store_error)?;
            let before = context.aggregate().clone();
            let sink = EventSink::default();
            context.aggregate().handle(command(), &(), &sink).await.map_err(AdminError::from)?;
            let after = context.aggregate().clone();
            let events = sink.collect().await;
            if events.is_empty() {
                return Ok(Executed { before, after, events: Vec::new() });
            }
            match store.commit(events, context, metadata.clone()).await {
                Ok(events) => {
                    admin_views::refresh::<A>(&self.pool, id).await?;
                    match A::TYPE {
                        ApiKey::TYPE => self.key_cache.refresh_key(&self.pool, id).await?,
                        Organization::TYPE => self.key_cache.refresh_organization(&self.pool, id).await?,
                        Route::TYPE => self.route_table.refresh(&self.pool, id).await?,
                        _ => {}
                    }
                    return Ok(Executed { before, after, events });
                }
                Err(AggregateError::AggregateConflict) => {
                    // Someone else wrote first: back off a little (jittered) and decide again.
                    let jitter = rand::random_range(0..=(2 + attempt * 2));
                    tokio::time::sleep(Duration::from_millis(u64::from(jitter))).await;
                }
                Err(other) => return Err(store_error(other)),
            }
        }
        Err(AdminError::ConcurrentModification("the resource is being changed concurrently; retry"))
    }

    /// Brings every admin view up to date with the event store (run at start).
    pub async fn repair_views(&self) -> Result<usize, AdminError> {
        let repaired = admin_views::repair_all(&self.pool).await?;
        names::release_stale_claims(&self.pool).await?;
        Ok(repaired)
    }

    /// Exposed so tests can write events without touching the views, as a crash
    /// between the commit and the view update would.
    pub async fn commit_without_view_update(
        &self,
        id: Uuid,
        command: gaiarouter_domain::organization::OrganizationCommand,
        actor: &Actor,
    ) -> Result<(), AdminError> {
        let mut context = self.organizations.load_aggregate(&id.to_string()).await.map_err(store_error)?;
        let sink = EventSink::default();
        context.aggregate().handle(command, &(), &sink).await.map_err(AdminError::from)?;
        self.organizations.commit(sink.collect().await, context, actor.metadata()).await.map_err(store_error)?;
        Ok(())
    }
}

fn store_error<E: std::error::Error>(error: AggregateError<E>) -> AdminError
where
    AdminError: From<E>,
{
    match error {
        AggregateError::UserError(e) => e.into(),
        AggregateError::AggregateConflict => {
            AdminError::ConcurrentModification("the resource was changed concurrently; retry")
        }
        AggregateError::DatabaseConnectionError(e) => AdminError::StoreUnavailable(e.to_string()),
        AggregateError::DeserializationError(e) | AggregateError::UnexpectedError(e) => {
            AdminError::Store(e.to_string())
        }
    }
}
