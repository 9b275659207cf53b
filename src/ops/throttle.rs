//! The in-flight limit for operations Heketi counts (`max_inflight_operations`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use super::OpError;

#[derive(Clone)]
pub struct Throttle {
    limit: usize,
    current: Arc<AtomicUsize>,
}

/// One slot; released when dropped.
#[derive(Debug)]
pub struct Permit {
    current: Arc<AtomicUsize>,
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.current.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Throttle {
    pub fn new(limit: usize) -> Throttle {
        Throttle {
            limit: limit.max(1),
            current: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Takes a slot, or answers `Server busy` when all are taken.
    pub fn try_acquire(&self) -> Result<Permit, OpError> {
        self.current
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.limit).then_some(n + 1)
            })
            .map(|_| Permit {
                current: self.current.clone(),
            })
            .map_err(|_| OpError::Busy)
    }

    pub fn in_use(&self) -> usize {
        self.current.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permits_are_bounded_and_released() {
        let t = Throttle::new(2);
        let a = t.try_acquire().unwrap();
        let _b = t.try_acquire().unwrap();
        assert_eq!(t.try_acquire().unwrap_err(), OpError::Busy);
        drop(a);
        assert!(t.try_acquire().is_ok());
    }
}
