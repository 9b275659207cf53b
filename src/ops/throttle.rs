//! The in-flight limit for the operations Heketi counts
//! (`max_inflight_operations`). Past the limit, requests wait in a bounded
//! queue; only a full queue answers `429 Server busy`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::OpError;

#[derive(Clone)]
pub struct Throttle {
    limit: usize,
    queue: usize,
    slots: Arc<Semaphore>,
    waiting: Arc<AtomicUsize>,
}

/// One slot; released when dropped.
#[derive(Debug)]
pub struct Permit {
    _slot: OwnedSemaphorePermit,
}

/// Counts a waiter for as long as it waits, also if its request is dropped.
struct Waiting(Arc<AtomicUsize>);

impl Drop for Waiting {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Throttle {
    pub fn new(limit: usize, queue: usize) -> Throttle {
        let limit = limit.max(1);
        Throttle {
            limit,
            queue,
            slots: Arc::new(Semaphore::new(limit)),
            waiting: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Takes a slot now, or answers `Server busy`.
    pub fn try_acquire(&self) -> Result<Permit, OpError> {
        self.slots
            .clone()
            .try_acquire_owned()
            .map(|slot| Permit { _slot: slot })
            .map_err(|_| OpError::Busy)
    }

    /// Takes a slot, waiting in the queue if all are taken; answers
    /// `Server busy` only when the queue is full too.
    pub async fn acquire(&self) -> Result<Permit, OpError> {
        if let Ok(permit) = self.try_acquire() {
            return Ok(permit);
        }
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.queue {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(OpError::Busy);
        }
        let _waiting = Waiting(self.waiting.clone());
        let slot = self.slots.clone().acquire_owned().await.map_err(|_| OpError::Busy)?;
        Ok(Permit { _slot: slot })
    }

    pub fn in_use(&self) -> usize {
        self.limit - self.slots.available_permits()
    }

    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn waits_in_a_bounded_queue() {
        let t = Throttle::new(1, 1);
        let first = t.acquire().await.unwrap();
        assert_eq!(t.try_acquire().unwrap_err(), OpError::Busy);
        let t2 = t.clone();
        let waiter = tokio::spawn(async move { t2.acquire().await.map(|_| ()) });
        // Let the waiter queue up; the queue is then full.
        for _ in 0..100 {
            if t.waiting() == 1 {
                break;
            }
            tokio::task::yield_now().await;
        }
        assert_eq!(t.waiting(), 1);
        assert_eq!(t.acquire().await.unwrap_err(), OpError::Busy);
        drop(first);
        waiter.await.unwrap().unwrap();
        assert_eq!(t.in_use(), 0);
        assert_eq!(t.waiting(), 0);
    }
}
