//! How command lines reach a storage node. A transport runs one shell
//! command on one host and reports what happened; batching, parsing and
//! error wording live in `remote`, so SSH and Kubernetes exec share them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;

/// What one command left behind.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CommandOutput {
    pub status: u32,
    pub stdout: String,
    pub stderr: String,
}

impl CommandOutput {
    pub fn success(&self) -> bool {
        self.status == 0
    }
}

/// The command could not be run or did not finish: the host was
/// unreachable, authentication failed, or a time limit ran out. The
/// message is what users see; the kind says which, for callers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TransportError(pub String, pub TransportErrorKind);

/// Why a transport gave up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportErrorKind {
    /// The node could not be reached, refused, or the session broke.
    Unreachable,
    /// A time limit ran out first: the command's own, or one before it
    /// could start (connecting, waiting for a session).
    TimedOut,
}

impl TransportError {
    pub fn unreachable(message: impl Into<String>) -> TransportError {
        TransportError(message.into(), TransportErrorKind::Unreachable)
    }

    pub fn timed_out(message: impl Into<String>) -> TransportError {
        TransportError(message.into(), TransportErrorKind::TimedOut)
    }

    pub fn is_timeout(&self) -> bool {
        self.1 == TransportErrorKind::TimedOut
    }
}

#[async_trait]
pub trait Transport: Send + Sync {
    /// Runs `command` (a shell command line) on `host`, giving up after `timeout`.
    async fn run(&self, host: &str, command: &str, timeout: Duration) -> Result<CommandOutput, TransportError>;

    /// Counters for `/metrics` and benchmarks.
    fn stats(&self) -> &TransportStats;
}

/// Monotonic counters a transport keeps.
#[derive(Debug, Default)]
pub struct TransportStats {
    pub connections_opened: AtomicU64,
    pub commands: AtomicU64,
    pub command_micros: AtomicU64,
}

impl TransportStats {
    pub fn record_command(&self, took: Duration) {
        self.commands.fetch_add(1, Ordering::Relaxed);
        self.command_micros
            .fetch_add(took.as_micros().min(u64::MAX as u128) as u64, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            connections_opened: self.connections_opened.load(Ordering::Relaxed),
            commands: self.commands.load(Ordering::Relaxed),
            command_seconds: self.command_micros.load(Ordering::Relaxed) as f64 / 1e6,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct StatsSnapshot {
    pub connections_opened: u64,
    pub commands: u64,
    pub command_seconds: f64,
}
