//! A durable mock reads its node state on a thread of its own, so the
//! server listens at once: the state stands for what the storage nodes
//! hold, which a real executor never loads. Every call waits until the
//! state is there (asynchronously on the runtime, blocking elsewhere), and
//! a state that could not be read fails every call with the reason.

use std::sync::{Arc, Condvar, Mutex, PoisonError};

use tokio::sync::watch;

use super::log::StateFileError;

/// Why the node state is not there to use.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LoadError {
    #[error("the mock node state could not be loaded: {0}")]
    Failed(#[source] Arc<StateFileError>),
    #[error("the mock node state's loader stopped before it finished")]
    Stopped,
}

type Outcome = Option<Result<(), LoadError>>;

/// The outcome, for blocking waits (a condition variable) and for async
/// ones (a watch channel; a blocking wait on a tokio primitive inside a
/// task could spin on the task's spent budget).
#[derive(Debug)]
struct Shared {
    outcome: Mutex<Outcome>,
    changed: Condvar,
}

/// Opens the gate with the loader's outcome; dropped unused (the loader
/// panicked), it fails every wait with `LoadError::Stopped`.
pub(super) struct Opener {
    shared: Arc<Shared>,
    tx: watch::Sender<Outcome>,
}

impl Opener {
    pub(super) fn open(self, outcome: Result<(), StateFileError>) {
        self.set(outcome.map_err(|e| LoadError::Failed(Arc::new(e))));
    }

    fn set(&self, outcome: Result<(), LoadError>) {
        let mut held = self.shared.outcome.lock().unwrap_or_else(PoisonError::into_inner);
        if held.is_none() {
            *held = Some(outcome.clone());
            self.shared.changed.notify_all();
            let _ = self.tx.send(Some(outcome));
        }
    }
}

impl Drop for Opener {
    fn drop(&mut self) {
        self.set(Err(LoadError::Stopped));
    }
}

/// Whether the node state has been loaded.
#[derive(Debug)]
pub(super) struct Gate {
    shared: Arc<Shared>,
    rx: watch::Receiver<Outcome>,
}

impl Gate {
    /// A gate that is open from the start (a mock with nothing to read).
    pub(super) fn opened() -> Gate {
        let (opener, gate) = Gate::closed();
        opener.set(Ok(()));
        gate
    }

    /// A closed gate and what opens it.
    pub(super) fn closed() -> (Opener, Gate) {
        let shared = Arc::new(Shared {
            outcome: Mutex::new(None),
            changed: Condvar::new(),
        });
        let (tx, rx) = watch::channel(None);
        (
            Opener {
                shared: shared.clone(),
                tx,
            },
            Gate { shared, rx },
        )
    }

    /// Waits, without holding a thread, until the loader has finished.
    pub(super) async fn wait(&self) -> Result<(), LoadError> {
        let mut rx = self.rx.clone();
        let outcome = match rx.wait_for(Option::is_some).await {
            Ok(outcome) => outcome.clone(),
            Err(_) => None,
        };
        outcome.unwrap_or(Err(LoadError::Stopped))
    }

    /// `wait`, blocking the calling thread: for callers off the runtime,
    /// and for any path that reaches the state without `wait` first.
    pub(super) fn wait_blocking(&self) -> Result<(), LoadError> {
        let held = self.shared.outcome.lock().unwrap_or_else(PoisonError::into_inner);
        let held = self
            .shared
            .changed
            .wait_while(held, |outcome| outcome.is_none())
            .unwrap_or_else(PoisonError::into_inner);
        held.clone().unwrap_or(Err(LoadError::Stopped))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_wait_ends_with_the_outcome_the_loader_sends() {
        let (opener, gate) = Gate::closed();
        let waiting = tokio::spawn(async move { gate.wait().await });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        opener.open(Err(StateFileError::Stranded { path: "x".into() }));
        let outcome = waiting.await.unwrap();
        assert!(matches!(outcome, Err(LoadError::Failed(e)) if matches!(*e, StateFileError::Stranded { .. })));
    }

    #[test]
    fn a_loader_that_stops_unsent_fails_the_waits() {
        let (opener, gate) = Gate::closed();
        drop(opener);
        assert!(matches!(gate.wait_blocking(), Err(LoadError::Stopped)));
        assert!(Gate::opened().wait_blocking().is_ok());
    }

    #[test]
    fn a_blocking_wait_returns_once_another_thread_opens() {
        let (opener, gate) = Gate::closed();
        let loader = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(20));
            opener.open(Ok(()));
        });
        assert!(gate.wait_blocking().is_ok());
        loader.join().unwrap();
    }
}
