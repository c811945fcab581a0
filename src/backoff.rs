//! The one retry schedule: full jitter over an exponentially growing cap, never past a deadline. Both retry
//! loops (AWS calls, the response PUT) take their delays from here.

use std::time::Duration;

use tokio::time::Instant;

/// The first backoff step; doubled per attempt up to [`MAX_BACKOFF`], then fully jittered.
const BASE_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(4);
const MIN_BACKOFF: Duration = Duration::from_millis(10);

/// The delay before retry number `attempt` (1-based) for a `jitter` in `[0, 1]`.
pub fn backoff(attempt: u32, jitter: f64) -> Duration {
    let cap = BASE_BACKOFF.saturating_mul(1 << attempt.min(16)).min(MAX_BACKOFF);
    cap.mul_f64(jitter.clamp(0.0, 1.0)).max(MIN_BACKOFF)
}

/// How long to wait before retry number `attempt`, or `None` when `max_attempts` are used up or the retry
/// could not start before `until`. `jitter` is in `[0, 1]`.
pub fn delay_with(attempt: u32, max_attempts: u32, now: Instant, until: Instant, jitter: f64) -> Option<Duration> {
    let delay = backoff(attempt, jitter);
    (attempt < max_attempts && now + delay < until).then_some(delay)
}

/// [`delay_with`] with a fresh random jitter.
pub fn delay_before(attempt: u32, max_attempts: u32, now: Instant, until: Instant) -> Option<Duration> {
    delay_with(attempt, max_attempts, now, until, fastrand::f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_doubles_per_attempt_up_to_the_maximum() {
        assert_eq!(backoff(1, 1.0), Duration::from_millis(100));
        assert_eq!(backoff(2, 1.0), Duration::from_millis(200));
        assert_eq!(backoff(6, 1.0), Duration::from_millis(3200));
        assert_eq!(backoff(7, 1.0), MAX_BACKOFF);
        assert_eq!(backoff(30, 0.5), MAX_BACKOFF / 2);
    }

    #[test]
    fn jitter_scales_the_delay_and_a_floor_keeps_it_from_spinning() {
        assert_eq!(backoff(3, 0.25), Duration::from_millis(100));
        assert_eq!(backoff(5, 0.0), MIN_BACKOFF);
    }

    #[test]
    fn no_retry_past_the_deadline_or_the_attempt_bound() {
        let now = Instant::now();
        let until = now + Duration::from_millis(150);
        assert_eq!(delay_with(1, 10, now, until, 1.0), Some(Duration::from_millis(100)));
        assert_eq!(delay_with(1, 10, now, until, 1.0).map(|d| now + d < until), Some(true));
        assert_eq!(delay_with(2, 10, now, until, 1.0), None, "200 ms would end after the deadline");
        assert_eq!(delay_with(10, 10, now, now + Duration::from_secs(60), 0.5), None);
    }

    #[test]
    fn random_jitter_spreads_the_delays() {
        let until = Instant::now() + Duration::from_secs(60);
        let delays: std::collections::BTreeSet<Duration> = (0..50).filter_map(|_| delay_before(6, 10, Instant::now(), until)).collect();
        assert!(delays.len() > 10, "50 draws gave only {} distinct delays", delays.len());
    }
}
