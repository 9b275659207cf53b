//! Per-node concurrency: at most N executor calls run on one storage node at
//! a time; calls to different nodes run in parallel.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub struct HostGate {
    per_host: usize,
    gates: Mutex<HashMap<String, Arc<Semaphore>>>,
}

impl HostGate {
    pub fn new(per_host: usize) -> HostGate {
        HostGate {
            per_host: per_host.max(1),
            gates: Mutex::new(HashMap::new()),
        }
    }

    /// Waits for a slot on `host`; the slot is held until dropped.
    pub async fn enter(&self, host: &str) -> Option<OwnedSemaphorePermit> {
        let gate = {
            let mut gates = self.gates.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            gates
                .entry(host.to_string())
                .or_insert_with(|| Arc::new(Semaphore::new(self.per_host)))
                .clone()
        };
        // Gates are never closed, so this always yields a slot.
        gate.acquire_owned().await.ok()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_node_takes_at_most_its_share_and_other_nodes_are_not_held() {
        let gate = HostGate::new(2);
        let first = gate.enter("node1").await;
        let second = gate.enter("node1").await;
        // A third call on the same node waits for a slot...
        let third = tokio::time::timeout(Duration::from_millis(100), gate.enter("node1")).await;
        assert!(third.is_err(), "a third concurrent call on node1 ran");
        // ...while another node is free.
        let other = tokio::time::timeout(Duration::from_millis(100), gate.enter("node2")).await;
        assert!(other.is_ok(), "node2 waited for node1's slots");
        drop(first);
        let third = tokio::time::timeout(Duration::from_secs(5), gate.enter("node1")).await;
        assert!(third.is_ok(), "a freed slot was not handed on");
        drop(second);
    }

    #[test]
    fn a_limit_of_zero_still_lets_calls_through() {
        assert_eq!(HostGate::new(0).per_host, 1);
    }
}
