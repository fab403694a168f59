//! Archived months of `Request` events (written by `gaiarouter events archive`):
//! one gzip-compressed JSON-lines file per month, its events in global-position
//! order, each file listed in the `event_archives` table. The archived partitions
//! are gone from `events`, so a rebuild replays the archives first (merged by
//! global position, see [`Merged`]) and then the live events.
//!
//! The files are read with blocking IO: a rebuild is a rare, long operation that
//! holds one transaction anyway, and a batch of lines decompresses in milliseconds.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{BufRead, BufReader, Lines};
use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate, Utc};
use flate2::read::MultiGzDecoder;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::{FromRow, PgConnection};

use crate::event_log::{EventLogError, StoredEvent};

/// The only aggregate type ever archived: admin events stay in `events` forever.
pub const ARCHIVED_TYPE: &str = gaiarouter_domain::request::AGGREGATE_TYPE;

/// One line of an archive file: an `events` row, every column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, FromRow)]
pub struct ArchivedEvent {
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub sequence: i64,
    pub event_type: String,
    pub event_version: String,
    pub payload: Value,
    pub metadata: Value,
    pub global_position: i64,
    /// `xid8` as text.
    pub tx_id: String,
    pub recorded_at: DateTime<Utc>,
}

impl From<ArchivedEvent> for StoredEvent {
    fn from(e: ArchivedEvent) -> Self {
        StoredEvent {
            aggregate_type: e.aggregate_type,
            aggregate_id: e.aggregate_id,
            sequence: e.sequence,
            event_type: e.event_type,
            event_version: e.event_version,
            payload: e.payload,
            metadata: e.metadata,
            global_position: e.global_position,
            recorded_at: e.recorded_at,
            tx_id: e.tx_id,
            payload_text: None,
            decoded_request: Default::default(),
        }
    }
}

/// A row of `event_archives`: one archived month.
#[derive(Debug, Clone, PartialEq, Eq, FromRow, Serialize, Deserialize)]
pub struct ArchivedMonth {
    pub month: NaiveDate,
    pub file: String,
    pub events: i64,
    pub min_position: Option<i64>,
    pub max_position: Option<i64>,
    pub sha256: String,
}

/// Every archived month, oldest first.
pub async fn list(connection: &mut PgConnection) -> Result<Vec<ArchivedMonth>, sqlx::Error> {
    sqlx::query_as("SELECT month, file, events, min_position, max_position, sha256 FROM event_archives ORDER BY month")
        .fetch_all(connection)
        .await
}

/// How many events the archives hold.
pub async fn count(connection: &mut PgConnection) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT coalesce(sum(events), 0)::bigint FROM event_archives").fetch_one(connection).await
}

fn archive_error(file: &Path, reason: impl std::fmt::Display) -> EventLogError {
    EventLogError::Archive { file: file.display().to_string(), reason: reason.to_string() }
}

/// Reads one archive file line by line.
pub struct ArchiveReader {
    path: PathBuf,
    lines: Lines<BufReader<MultiGzDecoder<File>>>,
}

impl ArchiveReader {
    pub fn open(path: &Path) -> Result<Self, EventLogError> {
        let file = File::open(path).map_err(|e| archive_error(path, e))?;
        Ok(ArchiveReader { path: path.to_path_buf(), lines: BufReader::new(MultiGzDecoder::new(file)).lines() })
    }
}

impl Iterator for ArchiveReader {
    type Item = Result<ArchivedEvent, EventLogError>;

    fn next(&mut self) -> Option<Self::Item> {
        let line = match self.lines.next()? {
            Ok(line) => line,
            Err(error) => return Some(Err(archive_error(&self.path, error))),
        };
        Some(serde_json::from_str(&line).map_err(|e| archive_error(&self.path, e)))
    }
}

/// The events of several archives merged into one global-position order (each
/// file is in that order already; a month's events can interleave with the next
/// month's, since an id's month is when the request started, not when it was
/// recorded). Checks that each file holds as many events as its manifest says.
pub struct Merged {
    readers: Vec<(ArchivedMonth, ArchiveReader, i64)>,
    heads: BinaryHeap<Reverse<(i64, usize)>>,
    pending: Vec<Option<ArchivedEvent>>,
}

impl Merged {
    pub fn open(months: &[ArchivedMonth]) -> Result<Self, EventLogError> {
        let mut merged = Merged { readers: Vec::new(), heads: BinaryHeap::new(), pending: Vec::new() };
        for month in months {
            let reader = ArchiveReader::open(Path::new(&month.file))?;
            merged.readers.push((month.clone(), reader, 0));
            merged.pending.push(None);
            merged.pull(merged.readers.len() - 1)?;
        }
        Ok(merged)
    }

    /// Reads reader `i`'s next event into its slot (or checks its count at the end).
    fn pull(&mut self, i: usize) -> Result<(), EventLogError> {
        let (month, reader, read) = &mut self.readers[i];
        match reader.next() {
            Some(event) => {
                let event = event?;
                *read += 1;
                self.heads.push(Reverse((event.global_position, i)));
                self.pending[i] = Some(event);
            }
            None if *read != month.events => {
                let reason = format!("holds {read} events, the manifest says {}", month.events);
                return Err(archive_error(Path::new(&month.file), reason));
            }
            None => {}
        }
        Ok(())
    }

    /// Up to `limit` next events, in global-position order; empty at the end.
    pub fn next_batch(&mut self, limit: usize) -> Result<Vec<StoredEvent>, EventLogError> {
        let mut batch = Vec::new();
        while batch.len() < limit {
            let Some(Reverse((_, i))) = self.heads.pop() else { break };
            if let Some(event) = self.pending[i].take() {
                batch.push(StoredEvent::from(event));
            }
            self.pull(i)?;
        }
        Ok(batch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::GzEncoder;
    use std::io::Write;

    fn event(position: i64) -> ArchivedEvent {
        ArchivedEvent {
            aggregate_type: ARCHIVED_TYPE.into(),
            aggregate_id: format!("id-{position}"),
            sequence: 1,
            event_type: "RequestCompleted".into(),
            event_version: "3.0".into(),
            payload: serde_json::json!({"n": position}),
            metadata: serde_json::json!({}),
            global_position: position,
            tx_id: position.to_string(),
            recorded_at: DateTime::from_timestamp(position, 0).unwrap_or_default(),
        }
    }

    fn write(dir: &Path, name: &str, positions: &[i64]) -> ArchivedMonth {
        let path = dir.join(name);
        let mut gz = GzEncoder::new(File::create(&path).unwrap(), flate2::Compression::default());
        for p in positions {
            writeln!(gz, "{}", serde_json::to_string(&event(*p)).unwrap()).unwrap();
        }
        gz.finish().unwrap();
        ArchivedMonth {
            month: NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
            file: path.display().to_string(),
            events: positions.len() as i64,
            min_position: positions.first().copied(),
            max_position: positions.last().copied(),
            sha256: String::new(),
        }
    }

    fn temp_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("gaiarouter-archive-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn given_interleaved_months_when_merged_then_events_come_in_global_position_order() {
        let dir = temp_dir();
        let months = [write(&dir, "a.jsonl.gz", &[1, 4, 5, 9]), write(&dir, "b.jsonl.gz", &[2, 3, 7])];
        let mut merged = Merged::open(&months).unwrap();
        let mut positions = Vec::new();
        loop {
            let batch = merged.next_batch(2).unwrap();
            if batch.is_empty() {
                break;
            }
            assert!(batch.len() <= 2);
            positions.extend(batch.iter().map(|e| e.global_position));
        }
        assert_eq!(positions, [1, 2, 3, 4, 5, 7, 9]);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn given_a_file_shorter_than_its_manifest_when_replayed_then_it_is_an_error() {
        let dir = temp_dir();
        let mut month = write(&dir, "a.jsonl.gz", &[1, 2]);
        month.events = 3;
        let mut merged = Merged::open(&[month]).unwrap();
        assert!(matches!(merged.next_batch(10), Err(EventLogError::Archive { .. })));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn given_a_missing_file_when_opened_then_it_is_an_error_naming_it() {
        let dir = temp_dir();
        let mut month = write(&dir, "a.jsonl.gz", &[1]);
        month.file = dir.join("gone.jsonl.gz").display().to_string();
        let error = Merged::open(&[month]).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(error.contains("gone.jsonl.gz"), "{error}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
