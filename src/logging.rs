//! Logging: `tracing` with a `RUST_LOG`-style filter that `/internal/logging`
//! can change at run time using Heketi's level names.

use std::sync::Mutex;

use tracing_subscriber::{fmt, layer::SubscriberExt, reload, util::SubscriberInitExt, EnvFilter, Registry};

/// Heketi's level names, in order.
pub const LEVELS: [&str; 6] = ["none", "critical", "error", "warning", "info", "debug"];

fn directive(level: &str) -> Option<&'static str> {
    Some(match level {
        "none" => "off",
        "critical" | "error" => "error",
        "warning" => "warn",
        "info" => "info",
        "debug" => "debug",
        _ => return None,
    })
}

/// Why the log level was not changed.
#[derive(Debug, thiserror::Error)]
pub enum LogLevelError {
    #[error("invalid log level: {0}")]
    Unknown(String),
    #[error("cannot change log level: {0}")]
    Reload(#[source] reload::Error),
}

/// The message alone, for callers that answer with it.
pub struct LogControl {
    handle: Option<reload::Handle<EnvFilter, Registry>>,
    level: Mutex<String>,
}

impl LogControl {
    /// Installs the global subscriber. `RUST_LOG`, when set, wins over the
    /// configured level at start-up.
    pub fn install(configured: Option<&str>) -> LogControl {
        let level = configured
            .filter(|l| directive(l).is_some())
            .unwrap_or("info")
            .to_string();
        if let Some(bad) = configured.filter(|l| directive(l).is_none()) {
            eprintln!("WARNING: ignoring unknown log level {bad:?}");
        }
        let filter =
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(directive(&level).unwrap_or("info")));
        let (layer, handle) = reload::Layer::new(filter);
        let installed = tracing_subscriber::registry()
            .with(layer)
            .with(
                fmt::layer()
                    .with_writer(std::io::stderr)
                    .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())),
            )
            .try_init()
            .is_ok();
        LogControl {
            handle: installed.then_some(handle),
            level: Mutex::new(level),
        }
    }

    /// A control that changes nothing global (for in-process tests).
    pub fn detached(level: &str) -> LogControl {
        LogControl {
            handle: None,
            level: Mutex::new(level.to_string()),
        }
    }

    pub fn level(&self) -> String {
        self.level
            .lock()
            .map(|l| l.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    /// Sets a Heketi level name; unknown names are refused.
    pub fn set(&self, level: &str) -> Result<(), LogLevelError> {
        let directive = directive(level).ok_or_else(|| LogLevelError::Unknown(level.to_string()))?;
        if let Some(handle) = &self.handle {
            handle
                .reload(EnvFilter::new(directive))
                .map_err(LogLevelError::Reload)?;
        }
        if let Ok(mut l) = self.level.lock() {
            *l = level.to_string();
        }
        tracing::info!(level, "log level changed");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_map_and_unknown_is_refused() {
        let c = LogControl::detached("info");
        c.set("debug").unwrap();
        assert_eq!(c.level(), "debug");
        assert_eq!(c.set("loud").unwrap_err().to_string(), "invalid log level: loud");
        assert_eq!(c.level(), "debug");
        for l in LEVELS {
            assert!(directive(l).is_some());
        }
    }
}
