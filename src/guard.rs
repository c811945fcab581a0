//! The guard that makes silence impossible: a panic, or work still running at the deadline, becomes a
//! FAILED response. Time is an argument, so the guard is tested with tokio's paused clock.

use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

/// Why guarded work produced no result of its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Interrupted {
    /// The work panicked; the message, if it was a string.
    Panicked(String),
    /// The work was still running at the limit, and has been stopped.
    TimedOut,
}

/// Runs `work` on its own task until `limit`. A panic in it is caught (the process keeps serving), and
/// work still running at `limit` is aborted.
///
/// # Errors
/// [`Interrupted`] when the work panicked or ran out of time.
pub async fn run<F>(work: F, limit: Instant) -> Result<F::Output, Interrupted>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let mut task = tokio::spawn(work);
    match tokio::time::timeout_at(limit, &mut task).await {
        Ok(Ok(output)) => Ok(output),
        Ok(Err(join)) => {
            let message = match join.try_into_panic() {
                Ok(payload) => payload
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_default(),
                Err(_) => "task cancelled".to_owned(),
            };
            Err(Interrupted::Panicked(message))
        }
        Err(_) => {
            task.abort();
            Err(Interrupted::TimedOut)
        }
    }
}

/// Deadlines below this many milliseconds since the epoch (September 2001) cannot be wall-clock times.
const EPOCH_MS_FLOOR: u64 = 1_000_000_000_000;

/// Converts Lambda's deadline (milliseconds since the epoch) into an [`Instant`], given the wall clock now.
/// A deadline in the past gives `now`. A value too small to be a wall-clock time is read as a duration from
/// now: local emulators such as `cargo lambda watch` send the timeout itself (e.g. `600000`).
pub fn deadline_instant(deadline_ms: u64, wall_now: SystemTime, now: Instant) -> Instant {
    if deadline_ms < EPOCH_MS_FLOOR {
        return now + Duration::from_millis(deadline_ms);
    }
    let wall_ms = wall_now.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis() as u64;
    now + Duration::from_millis(deadline_ms.saturating_sub(wall_ms))
}

/// The moment work must stop so a FAILED can still be sent: `margin` before the deadline, but never
/// less than a short slice of time for the work itself.
pub fn work_limit(deadline: Instant, margin: Duration, now: Instant) -> Instant {
    let remaining = deadline.saturating_duration_since(now);
    let work = remaining.saturating_sub(margin).max(remaining / 4);
    now + work
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn work_that_finishes_in_time_gives_its_output() {
        let limit = Instant::now() + Duration::from_secs(5);
        assert_eq!(run(async { 7 }, limit).await, Ok(7));
    }

    #[tokio::test(start_paused = true)]
    async fn work_still_running_at_the_limit_times_out_on_time() {
        let start = Instant::now();
        let limit = start + Duration::from_secs(5);
        let result = run(async { tokio::time::sleep(Duration::from_secs(3600)).await }, limit).await;
        assert_eq!(result, Err(Interrupted::TimedOut));
        assert_eq!(Instant::now() - start, Duration::from_secs(5));
    }

    #[tokio::test(start_paused = true)]
    async fn a_panic_is_caught_with_its_message() {
        let limit = Instant::now() + Duration::from_secs(5);
        let result = run(async { panic!("boom {}", 1) }, limit).await;
        assert_eq!(result, Err(Interrupted::Panicked("boom 1".into())));
        // The runtime still works after the panic.
        assert_eq!(run(async { 1 }, limit).await, Ok(1));
    }

    #[test]
    fn deadlines_convert_from_epoch_milliseconds() {
        let now = Instant::now();
        let wall = UNIX_EPOCH + Duration::from_millis(1_795_000_000_000);
        assert_eq!(deadline_instant(1_795_000_030_000, wall, now), now + Duration::from_secs(30));
        assert_eq!(deadline_instant(1_794_999_000_000, wall, now), now, "a deadline in the past leaves no time");
    }

    #[test]
    fn a_relative_deadline_from_a_local_emulator_is_a_duration() {
        let now = Instant::now();
        let wall = UNIX_EPOCH + Duration::from_millis(1_795_000_000_000);
        assert_eq!(deadline_instant(600_000, wall, now), now + Duration::from_secs(600));
    }

    #[test]
    fn the_margin_is_kept_but_work_always_gets_a_slice() {
        let now = Instant::now();
        assert_eq!(work_limit(now + Duration::from_secs(30), Duration::from_secs(3), now), now + Duration::from_secs(27));
        assert_eq!(work_limit(now + Duration::from_secs(2), Duration::from_secs(3), now), now + Duration::from_millis(500));
    }
}
