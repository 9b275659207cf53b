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
            let mut gates = self.gates.lock().unwrap_or_else(|p| p.into_inner());
            gates
                .entry(host.to_string())
                .or_insert_with(|| Arc::new(Semaphore::new(self.per_host)))
                .clone()
        };
        // Gates are never closed, so this always yields a slot.
        gate.acquire_owned().await.ok()
    }
}
