//! Bisection of a refused batch: which records did the database refuse? Pure
//! over the write function, so the search is tested without a database.

use std::future::Future;
use std::ops::Range;

use super::RecordError;

/// Why writing a part of a batch failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The data of some record in the part (a data error): retrying smaller parts
    /// finds it.
    Refused(String),
    /// The database is unavailable: retrying would only add load.
    Outage(String),
}

/// Writes `0..len` with `write`; when a part is refused, writes its halves, until
/// each refused record is alone (depth-first, left half first, so records keep
/// their order). k refused records among n cost O(k log n) writes. An outage fails
/// everything not written yet at once. One result per record.
pub async fn isolate<F, Fut>(len: usize, mut write: F) -> Vec<Result<(), RecordError>>
where
    F: FnMut(Range<usize>) -> Fut,
    Fut: Future<Output = Result<(), Failure>>,
{
    let mut results: Vec<Result<(), RecordError>> = vec![Ok(()); len];
    let mut parts: Vec<Range<usize>> = Vec::new();
    parts.push(0..len);
    while let Some(part) = parts.pop() {
        match write(part.clone()).await {
            Ok(()) => {}
            Err(Failure::Outage(message)) => {
                let failure = RecordError::Database(message);
                for range in std::iter::once(part).chain(parts.drain(..)) {
                    for result in results.get_mut(range).into_iter().flatten() {
                        *result = Err(failure.clone());
                    }
                }
                break;
            }
            Err(Failure::Refused(_)) if part.len() > 1 => {
                let middle = part.start + part.len() / 2;
                parts.push(middle..part.end);
                parts.push(part.start..middle);
            }
            Err(Failure::Refused(reason)) => {
                if let Some(result) = results.get_mut(part.start) {
                    *result = Err(RecordError::Refused(reason));
                }
            }
        }
    }
    results
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;

    /// A fake database: refuses any part holding a poison index; records what it wrote.
    async fn run(
        len: usize,
        poison: &[usize],
        outage_after: Option<usize>,
    ) -> (Vec<Result<(), RecordError>>, Vec<usize>, usize) {
        let written = RefCell::new(Vec::new());
        let calls = RefCell::new(0);
        let results = isolate(len, |part: Range<usize>| {
            *calls.borrow_mut() += 1;
            let outcome = if outage_after.is_some_and(|n| *calls.borrow() > n) {
                Err(Failure::Outage("connection reset".into()))
            } else if part.clone().any(|i| poison.contains(&i)) {
                Err(Failure::Refused("unsupported Unicode escape sequence".into()))
            } else {
                written.borrow_mut().extend(part);
                Ok(())
            };
            async move { outcome }
        })
        .await;
        (results, written.into_inner(), calls.into_inner())
    }

    #[tokio::test]
    async fn a_good_batch_is_one_write() {
        let (results, written, calls) = run(512, &[], None).await;
        assert!(results.iter().all(Result::is_ok));
        assert_eq!((written.len(), calls), (512, 1));
    }

    #[tokio::test]
    async fn refused_records_fail_alone_and_every_other_record_is_written_once_in_order() {
        let (results, written, calls) = run(512, &[3, 4, 400], None).await;
        let failed: Vec<usize> = (0..512).filter(|i| results[*i].is_err()).collect();
        assert_eq!(failed, vec![3, 4, 400]);
        assert!(failed.iter().all(|i| matches!(results[*i], Err(RecordError::Refused(_)))));
        let expected: Vec<usize> = (0..512).filter(|i| ![3, 4, 400].contains(i)).collect();
        assert_eq!(written, expected);
        // Bisection: about 2 writes per level per refused record (log2 512 = 9).
        assert!(calls <= 1 + 3 * 2 * 9, "{calls} writes");
    }

    #[tokio::test]
    async fn an_outage_fails_the_whole_batch_with_one_write() {
        let (results, written, calls) = run(512, &[], Some(0)).await;
        assert!(results.iter().all(|r| matches!(r, Err(RecordError::Database(_)))));
        assert_eq!((written.len(), calls), (0, 1));
    }

    #[tokio::test]
    async fn an_outage_while_bisecting_stops_the_search_and_fails_what_is_not_written() {
        let (results, written, calls) = run(8, &[6], Some(3)).await;
        // Writes: 0..8 refused, 0..4 written, 4..8 refused, then the outage.
        assert_eq!(calls, 4);
        assert_eq!(written, vec![0, 1, 2, 3]);
        assert!(results[..4].iter().all(Result::is_ok));
        assert!(results[4..].iter().all(|r| matches!(r, Err(RecordError::Database(_)))));
    }
}
