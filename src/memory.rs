//! Handing freed heap memory back to the system. glibc keeps what a
//! program frees inside its heaps, so the peak of a burst of work (a fill,
//! a topology listing, the durable mock's load) would stay resident
//! for good; Go's runtime, which Heketi ran on, returns such pages itself.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Requests answered so far: the scavenger waits for it to stand still.
static REQUESTS: AtomicU64 = AtomicU64::new(0);

/// Counts one answered request.
pub fn note_request() {
    REQUESTS.fetch_add(1, Ordering::Relaxed);
}

/// Returns the pages of freed heap memory to the system.
pub fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns unused heap pages to the kernel.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Whether to trim now: requests came since the last trim, and none in
/// the last period (after a burst, never inside one, where a trim would
/// only take the allocator's locks for pages about to be used again).
fn due(now: u64, last_seen: u64, trimmed_at: u64) -> bool {
    now == last_seen && now != trimmed_at
}

/// Every `period`, returns freed memory once a burst of requests is over.
pub async fn scavenge(period: Duration) {
    let mut last_seen = REQUESTS.load(Ordering::Relaxed);
    let mut trimmed_at = last_seen;
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let now = REQUESTS.load(Ordering::Relaxed);
        if due(now, last_seen, trimmed_at) {
            if let Err(e) = tokio::task::spawn_blocking(release_freed_memory).await {
                tracing::warn!(error = %e, "returning freed memory failed");
            }
            trimmed_at = now;
        }
        last_seen = now;
    }
}

#[cfg(test)]
mod tests {
    use super::due;

    #[test]
    fn trims_once_after_a_burst_and_never_inside_one() {
        // (requests now, at the last tick, at the last trim) → trim?
        assert!(!due(10, 4, 0), "requests still coming");
        assert!(due(10, 10, 0), "quiet for a period after requests");
        assert!(!due(10, 10, 10), "nothing since the last trim");
        assert!(!due(0, 0, 0), "a server nobody asked anything");
    }
}
