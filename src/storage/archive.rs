//! `gaiarouter events archive --before YYYY-MM`: moves whole months of `Request`
//! events out of the database into compressed files.
//!
//! For each month partition before the given month (never the current month):
//! 1. its events are written, in global-position order, to
//!    `events-request-YYYY-MM.jsonl.gz` (a temporary name, fsynced, renamed,
//!    the directory fsynced);
//! 2. the file is read back: every line parses, the count and the first and last
//!    positions are those written, and its SHA-256 is taken;
//! 3. in ONE transaction the partition is detached (nothing can be written to it
//!    any more), counted again (must equal the file), the month is recorded in
//!    `event_archives` (which a rebuild replays) and the partition dropped.
//!
//! A crash anywhere leaves either the partition (a re-run writes the file again)
//! or the dropped partition with its `event_archives` row: re-running is always
//! safe. `manifest.json` in the directory is rewritten from `event_archives` at
//! the end of every run. Admin events are never archived; rollups and monthly
//! counters are not touched. A month is only archived once every projector of
//! requests has applied all of its events.

use std::fs::{self, File};
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use flate2::write::GzEncoder;
use futures::TryStreamExt;
use gaiarouter_projections::archive::{self as archived, ArchiveReader, ArchivedEvent, ArchivedMonth};
use sha2::{Digest, Sha256};
use sqlx::PgPool;

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("`{0}` is not a month: write YYYY-MM, e.g. 2026-01")]
    BadMonth(String),
    #[error("the current month is never archived: --before must be {current} or earlier")]
    CurrentMonth { current: String },
    #[error("projection `{projector}` has not applied every event of {month} yet: try again once it has caught up")]
    NotProjected { projector: String, month: String },
    #[error("{month} changed while it was archived ({written} events written, {found} found): run the command again")]
    Changed { month: String, written: i64, found: i64 },
    #[error("archive file {file} does not read back as written: {reason}")]
    Unreadable { file: String, reason: String },
    #[error("archive directory: {0}")]
    Io(#[from] std::io::Error),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

/// What one run did, month by month.
#[derive(Debug, Default)]
pub struct ArchiveReport {
    pub archived: Vec<ArchivedMonth>,
    /// Months before the limit with no partition left: archived by an earlier run.
    pub already_archived: Vec<NaiveDate>,
    pub manifest: PathBuf,
}

/// The projectors that read `Request` events: each must have applied a month
/// before it is archived.
pub fn request_projectors(runner: &gaiarouter_projections::Runner) -> Vec<&'static str> {
    runner
        .projectors()
        .iter()
        .filter(|p| p.aggregate_types().contains(&archived::ARCHIVED_TYPE))
        .map(|p| p.name())
        .collect()
}

/// Parses `YYYY-MM` into the first day of that month.
pub fn parse_month(text: &str) -> Result<NaiveDate, ArchiveError> {
    let bad = || ArchiveError::BadMonth(text.chars().take(20).collect());
    let (year, month) = text.split_once('-').ok_or_else(bad)?;
    if year.len() != 4 || month.len() != 2 {
        return Err(bad());
    }
    let (year, month) = (year.parse().map_err(|_| bad())?, month.parse().map_err(|_| bad())?);
    NaiveDate::from_ymd_opt(year, month, 1).ok_or_else(bad)
}

fn month_name(month: NaiveDate) -> String {
    month.format("%Y-%m").to_string()
}

/// Archives every month of `Request` events before `before`. `projectors`: the
/// names of the projectors of requests, which must have applied a month first.
pub async fn archive_before(
    pool: &PgPool,
    before: NaiveDate,
    dir: &Path,
    projectors: &[&str],
    now: DateTime<Utc>,
) -> Result<ArchiveReport, ArchiveError> {
    let current = NaiveDate::from_ymd_opt(now.year(), now.month(), 1).unwrap_or(before);
    if before > current {
        return Err(ArchiveError::CurrentMonth { current: month_name(current) });
    }
    fs::create_dir_all(dir)?;
    let dir = dir.canonicalize()?;
    let partitions: Vec<(NaiveDate, String)> =
        sqlx::query_as("SELECT month, partition FROM month_partitions('events_request') WHERE month < $1")
            .bind(before)
            .fetch_all(pool)
            .await?;
    let mut report = ArchiveReport { manifest: dir.join("manifest.json"), ..ArchiveReport::default() };
    for (month, partition) in partitions {
        check_projected(pool, &partition, month, projectors).await?;
        let file = dir.join(format!("events-request-{}.jsonl.gz", month_name(month)));
        let written = write_month(pool, &partition, &file).await?;
        let verified = read_back(&file, &written)?;
        let entry = ArchivedMonth {
            month,
            file: file.display().to_string(),
            events: written.count,
            min_position: written.min,
            max_position: written.max,
            sha256: verified,
        };
        drop_partition(pool, &partition, &entry).await?;
        tracing::info!(month = %month_name(month), events = entry.events, file = %entry.file, "month archived");
        report.archived.push(entry);
    }
    let archived_months = archived::list(&mut *pool.acquire().await?).await?;
    report.already_archived = archived_months
        .iter()
        .map(|m| m.month)
        .filter(|m| *m < before && !report.archived.iter().any(|a| a.month == *m))
        .collect();
    write_manifest(&report.manifest, &archived_months)?;
    Ok(report)
}

/// Refuses a month that a projector of requests has not fully applied: its
/// events would be gone before they were projected.
async fn check_projected(
    pool: &PgPool,
    partition: &str,
    month: NaiveDate,
    projectors: &[&str],
) -> Result<(), ArchiveError> {
    let names: Vec<String> = projectors.iter().map(|p| p.to_string()).collect();
    // A projector without a checkpoint row has applied nothing.
    let behind: Option<String> = sqlx::query_scalar(&format!(
        "SELECT n.name FROM UNNEST($1::text[]) AS n(name) \
           LEFT JOIN projection_checkpoints c ON c.name = n.name \
          WHERE EXISTS (SELECT 1 FROM \"{partition}\" e \
                         WHERE c.name IS NULL OR (e.tx_id, e.global_position) > (c.last_tx_id, c.last_position)) \
          LIMIT 1"
    ))
    .bind(&names)
    .fetch_optional(pool)
    .await?;
    match behind {
        Some(projector) => Err(ArchiveError::NotProjected { projector, month: month_name(month) }),
        None => Ok(()),
    }
}

/// What was written to a file.
#[derive(Debug, Default, PartialEq, Eq)]
struct Written {
    count: i64,
    min: Option<i64>,
    max: Option<i64>,
}

async fn write_month(pool: &PgPool, partition: &str, file: &Path) -> Result<Written, ArchiveError> {
    let temporary = file.with_extension("gz.tmp");
    let mut gz = GzEncoder::new(BufWriter::new(File::create(&temporary)?), flate2::Compression::default());
    let mut written = Written::default();
    {
        let sql = format!(
            "SELECT aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata, \
                    global_position, tx_id::text AS tx_id, recorded_at \
               FROM \"{partition}\" ORDER BY global_position"
        );
        let mut rows = sqlx::query_as::<_, ArchivedEvent>(&sql).fetch(pool);
        while let Some(event) = rows.try_next().await? {
            serde_json::to_writer(&mut gz, &event).map_err(std::io::Error::from)?;
            gz.write_all(b"\n")?;
            written.count += 1;
            written.min = written.min.or(Some(event.global_position));
            written.max = Some(event.global_position);
        }
    }
    let file_handle = gz.finish()?.into_inner().map_err(|e| e.into_error())?;
    file_handle.sync_all()?;
    fs::rename(&temporary, file)?;
    sync_dir(file)?;
    Ok(written)
}

/// Makes a rename durable: the directory entry is fsynced too.
fn sync_dir(file: &Path) -> std::io::Result<()> {
    match file.parent() {
        Some(dir) => File::open(dir)?.sync_all(),
        None => Ok(()),
    }
}

/// Reads the file back; answers its SHA-256 when it holds exactly what was written.
fn read_back(file: &Path, written: &Written) -> Result<String, ArchiveError> {
    let unreadable = |reason: String| ArchiveError::Unreadable { file: file.display().to_string(), reason };
    let mut found = Written::default();
    for event in ArchiveReader::open(file).map_err(|e| unreadable(e.to_string()))? {
        let event = event.map_err(|e| unreadable(e.to_string()))?;
        if found.max.is_some_and(|max| event.global_position <= max) {
            return Err(unreadable("events out of global-position order".into()));
        }
        found.count += 1;
        found.min = found.min.or(Some(event.global_position));
        found.max = Some(event.global_position);
    }
    if found != *written {
        return Err(unreadable(format!("{found:?} read, {written:?} written")));
    }
    let mut hasher = Sha256::new();
    let mut input = File::open(file)?;
    let mut buffer = vec![0_u8; 64 * 1024];
    loop {
        let n = input.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

async fn drop_partition(pool: &PgPool, partition: &str, entry: &ArchivedMonth) -> Result<(), ArchiveError> {
    let mut tx = pool.begin().await?;
    sqlx::query(&format!("ALTER TABLE events_request DETACH PARTITION \"{partition}\"")).execute(&mut *tx).await?;
    // Detached, nobody can add to it: this count is final.
    let found: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM \"{partition}\"")).fetch_one(&mut *tx).await?;
    if found != entry.events {
        tx.rollback().await?;
        return Err(ArchiveError::Changed { month: month_name(entry.month), written: entry.events, found });
    }
    sqlx::query(
        "INSERT INTO event_archives (month, file, events, min_position, max_position, sha256) \
         VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (month) DO UPDATE SET file = EXCLUDED.file, events = EXCLUDED.events, \
           min_position = EXCLUDED.min_position, max_position = EXCLUDED.max_position, sha256 = EXCLUDED.sha256, \
           archived_at = now()",
    )
    .bind(entry.month)
    .bind(&entry.file)
    .bind(entry.events)
    .bind(entry.min_position)
    .bind(entry.max_position)
    .bind(&entry.sha256)
    .execute(&mut *tx)
    .await?;
    sqlx::query(&format!("DROP TABLE \"{partition}\"")).execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(())
}

/// `manifest.json`: every archived month (month, count, positions, file, sha256),
/// written atomically.
fn write_manifest(path: &Path, months: &[ArchivedMonth]) -> Result<(), ArchiveError> {
    let temporary = path.with_extension("json.tmp");
    let mut file = File::create(&temporary)?;
    serde_json::to_writer_pretty(&mut file, &serde_json::json!({ "months": months })).map_err(std::io::Error::from)?;
    file.write_all(b"\n")?;
    file.sync_all()?;
    fs::rename(&temporary, path)?;
    sync_dir(path)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_a_month_when_parsed_then_it_is_its_first_day() {
        assert_eq!(parse_month("2026-01").ok(), NaiveDate::from_ymd_opt(2026, 1, 1));
        assert_eq!(parse_month("1999-12").ok(), NaiveDate::from_ymd_opt(1999, 12, 1));
    }

    #[test]
    fn given_anything_else_when_parsed_then_it_is_refused() {
        for text in ["2026-13", "2026-1", "26-01", "2026-01-01", "2026/01", "", "abcd-ef", "2026-00"] {
            assert!(matches!(parse_month(text), Err(ArchiveError::BadMonth(_))), "{text}");
        }
    }
}
