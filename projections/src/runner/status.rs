//! What `/v1/projections` shows: position, lag, state and quarantined events of
//! each projector.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;

use super::{Runner, RUNNER_LOCK};
use crate::event_log::EventLogError;

#[derive(Debug, Clone, Serialize)]
pub struct ProjectorStatus {
    pub name: String,
    /// Global position of the last applied event.
    pub position: i64,
    pub events_applied: i64,
    /// Events of its types not applied yet.
    pub lag_events: i64,
    /// Age of the oldest event not applied yet (0 when caught up).
    pub lag_seconds: f64,
    /// `running`, `rebuilding`, `catching_up` or `stopped` (no process projects).
    pub state: String,
    /// Replay progress of a rebuild running in this process: (applied, total).
    pub rebuild_progress: Option<(i64, i64)>,
    /// Events it skipped because it cannot apply them (see `quarantine`).
    pub quarantined: i64,
    /// Why the latest (highest position) of them was skipped.
    pub last_quarantine_reason: Option<String>,
    pub updated_at: DateTime<Utc>,
}

pub async fn projector_status(pool: &PgPool, runner: &Runner) -> Result<Vec<ProjectorStatus>, EventLogError> {
    runner.register().await?;
    let someone_projects: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted \
           AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
           AND ((classid::bigint << 32) | objid::bigint) = $1)",
    )
    .bind(RUNNER_LOCK)
    .fetch_one(pool)
    .await?;
    let mut statuses = Vec::new();
    for projector in runner.projectors() {
        let types: Vec<String> = projector.aggregate_types().iter().map(|t| t.to_string()).collect();
        let row: (String, i64, i64, String, bool, DateTime<Utc>) = sqlx::query_as(
            "SELECT last_tx_id::text, last_position, events_applied, state, rebuild_requested, updated_at \
             FROM projection_checkpoints WHERE name = $1",
        )
        .bind(projector.name())
        .fetch_one(pool)
        .await?;
        let (last_tx, position, events_applied, state, rebuild_requested, updated_at) = row;
        let (lag_events, oldest): (i64, Option<DateTime<Utc>>) = sqlx::query_as(
            "SELECT count(*), min(recorded_at) FROM events \
             WHERE aggregate_type = ANY($1) AND (tx_id, global_position) > ($2::text::xid8, $3)",
        )
        .bind(&types)
        .bind(&last_tx)
        .bind(position)
        .fetch_one(pool)
        .await?;
        let lag_seconds = oldest.map_or(0.0, |t| (Utc::now() - t).num_milliseconds().max(0) as f64 / 1000.0);
        let (quarantined, last_quarantine_reason) = super::quarantine::summary(pool, projector.name()).await?;
        let progress = runner.progress.lock().ok().and_then(|p| p.get(projector.name()).copied());
        let state = if state == "rebuilding" || rebuild_requested || progress.is_some() {
            "rebuilding"
        } else if !someone_projects {
            "stopped"
        } else if lag_events > 0 {
            "catching_up"
        } else {
            "running"
        };
        statuses.push(ProjectorStatus {
            name: projector.name().to_string(),
            position,
            events_applied,
            lag_events,
            lag_seconds,
            state: state.to_string(),
            rebuild_progress: progress,
            quarantined,
            last_quarantine_reason,
            updated_at,
        });
    }
    Ok(statuses)
}
