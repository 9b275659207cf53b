//! Handing freed heap memory back to the system. glibc keeps what a
//! program frees inside its heaps, so the peak of a burst of work (a fill,
//! a topology listing, the durable mock's load) would stay resident
//! for good; Go's runtime, which Heketi ran on, returns such pages itself.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Requests answered and background sweeps run so far: the scavenger
/// waits for it to stand still.
static REQUESTS: AtomicU64 = AtomicU64::new(0);

/// Counts one answered request.
pub fn note_request() {
    REQUESTS.fetch_add(1, Ordering::Relaxed);
}

/// Counts a background sweep (the queue's expiry, the cleaner) as a
/// request: each reads a whole tree at 50,000 volumes, and what it frees
/// is returned after it as after a burst of requests.
pub fn note_background_work() {
    note_request();
}

/// The size from which glibc maps each allocation on its own, fixed.
const MMAP_THRESHOLD: i32 = 128 << 10;

/// Caps glibc's malloc arenas at two, unless `MALLOC_ARENA_MAX` says
/// otherwise (glibc reads it itself). By default each thread that meets
/// contention gets its own arena (up to eight per core), and every arena
/// keeps the memory it once held: the blocking pool's threads alone then
/// hold several MiB the server never uses again. Call before the runtime
/// starts its threads.
pub fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if !set_in_environment("MALLOC_ARENA_MAX", 1) {
        // SAFETY: mallopt only sets an allocator tunable; nothing is
        // allocated concurrently before the runtime's threads exist.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 2);
        }
    }
}

/// Fixes glibc's mmap threshold at 128 KiB, unless
/// `MALLOC_MMAP_THRESHOLD_` says otherwise, and returns what the start
/// freed. By default glibc raises the threshold to the size of each mapped
/// block freed (up to 32 MiB), after which blocks of that size come from
/// the heaps, where a block that grows leaves its old place to sizes that
/// never come again: a 50,000-volume fill with the durable mock grew the
/// heaps to 1.1 GiB with under 100 MB in use; fixed, the process peaked
/// at 208-240 MiB. Call once the store is open: sled's replay after a
/// crash reads its log a segment at a time into fresh buffers, which the
/// moving threshold lets the heap reuse (220-254 ms at 50,000 volumes
/// against 458-477 ms with every buffer mapped anew).
pub fn fix_mmap_threshold() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if !set_in_environment("MALLOC_MMAP_THRESHOLD_", 0) {
        // SAFETY: glibc's mallopt may be called at any time; it takes the
        // main arena's lock to set the tunable.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
        }
    }
    release_freed_memory();
}

/// Whether glibc takes `name` from the environment: a count of at least
/// `least` (glibc ignores anything else).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn set_in_environment(name: &str, least: u32) -> bool {
    std::env::var(name).is_ok_and(|v| glibc_takes(&v, least))
}

/// Whether glibc takes `value` as a count of at least `least`.
#[cfg(any(test, all(target_os = "linux", target_env = "gnu")))]
fn glibc_takes(value: &str, least: u32) -> bool {
    value.trim().parse::<u32>().is_ok_and(|n| n >= least)
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
    use super::{due, glibc_takes};

    #[test]
    fn a_setting_glibc_would_ignore_leaves_the_tuning_in_place() {
        assert!(glibc_takes("4", 1));
        assert!(glibc_takes(" 131072 ", 0));
        assert!(glibc_takes("0", 0), "a threshold of 0 maps every block");
        assert!(!glibc_takes("0", 1), "glibc ignores zero arenas");
        assert!(!glibc_takes("", 0));
        assert!(!glibc_takes("two", 1));
        assert!(!glibc_takes("-1", 0));
    }

    #[test]
    fn trims_once_after_a_burst_and_never_inside_one() {
        // (requests now, at the last tick, at the last trim) → trim?
        assert!(!due(10, 4, 0), "requests still coming");
        assert!(due(10, 10, 0), "quiet for a period after requests");
        assert!(!due(10, 10, 10), "nothing since the last trim");
        assert!(!due(0, 0, 0), "a server nobody asked anything");
    }
}
