//! The mock's fault rules, from `glusterfs.mockexec.faults` in the config
//! or `BRICKYARD_MOCK_FAULTS` (comma separated):
//!
//! ```text
//! <operation>[@<host>]:<calls>:fail[:<message>]
//! <operation>[@<host>]:<calls>:delay:<milliseconds>
//! <operation>[@<host>]:<calls>:lose[:<message>]
//! <operation>[@<host>]:<calls>:stall:<milliseconds>
//! ```
//!
//! `stall` carries the call out and then waits before answering: the window
//! between a change on the nodes and the store's commit, for crash tests.
//! `lose` carries the call out on the node and then reports the node
//! unreachable, as a session lost after the command ran would: the caller
//! cannot tell whether it happened.
//!
//! `<calls>` is `N` (the Nth matching call, counted from 1 since start-up),
//! `N+` (the Nth and every later one) or `*` (every call). Operations:
//! `glusterd_check`, `peer_probe`, `peer_detach`, `device_setup`,
//! `device_info`, `device_teardown`, `device_forget`, `brick_create`,
//! `brick_destroy`, `brick_fstab_append`, `volume_create`, `volume_expand`, `volume_destroy`,
//! `volume_clone`, `snapshot_destroy`, `volume_info`, `node_inventory`, `peer_hostnames`,
//! `heal_info`, `heal_start`, `brick_replace`, `block_create`,
//! `block_delete`, `block_expand`, `block_info`, `block_list`, and the examiner's
//! `examine_volumes`, `examine_lvm`, `examine_mounts`.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use crate::executor::parse::Said;
use crate::executor::ExecError;

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Calls {
    Nth(u64),
    From(u64),
    Every,
}

#[derive(Debug, Clone, PartialEq)]
enum FaultAction {
    Fail(String),
    Delay(Duration),
    /// Carry the call out, then report the node unreachable.
    Lose(String),
    /// Carry the call out, then wait before answering.
    Stall(Duration),
}

#[derive(Debug, Clone, PartialEq)]
pub(super) struct FaultRule {
    operation: String,
    host: Option<String>,
    pub(super) calls: Calls,
    action: FaultAction,
}

/// A fault rule that does not follow the grammar above.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FaultRuleError {
    #[error("invalid mock fault rule {0:?}")]
    Malformed(String),
    #[error("invalid mock fault rule {spec:?}")]
    BadNumber {
        spec: String,
        #[source]
        source: std::num::ParseIntError,
    },
}

impl FaultRule {
    pub(super) fn parse(spec: &str) -> Result<FaultRule, FaultRuleError> {
        let malformed = || FaultRuleError::Malformed(spec.to_string());
        let number = |n: &str| {
            n.parse::<u64>().map_err(|source| FaultRuleError::BadNumber {
                spec: spec.to_string(),
                source,
            })
        };
        let mut parts = spec.splitn(4, ':');
        let target = parts.next().ok_or_else(malformed)?;
        let calls = parts.next().ok_or_else(malformed)?;
        let action = parts.next().ok_or_else(malformed)?;
        let arg = parts.next();
        let (operation, host) = match target.split_once('@') {
            Some((op, host)) => (op.to_string(), Some(host.to_string())),
            None => (target.to_string(), None),
        };
        let calls = if calls == "*" {
            Calls::Every
        } else if let Some(n) = calls.strip_suffix('+') {
            Calls::From(number(n)?)
        } else {
            Calls::Nth(number(calls)?)
        };
        let action = match (action, arg) {
            ("fail", msg) => FaultAction::Fail(msg.unwrap_or("injected failure").to_string()),
            ("delay", Some(ms)) => FaultAction::Delay(Duration::from_millis(number(ms)?)),
            ("stall", Some(ms)) => FaultAction::Stall(Duration::from_millis(number(ms)?)),
            ("lose", msg) => FaultAction::Lose(msg.unwrap_or("connection lost after the command was sent").to_string()),
            _ => return Err(malformed()),
        };
        Ok(FaultRule {
            operation,
            host,
            calls,
            action,
        })
    }
}

/// What happens after a call that changes node state was carried out: a
/// `stall` (the change made, the answer not yet back) and a `lose`.
#[must_use]
#[derive(Default)]
pub(super) struct Aftermath {
    stall: Option<Duration>,
    lost: Option<String>,
}

impl Aftermath {
    pub(super) async fn settle<T>(
        self,
        host: &str,
        operation: &'static str,
        result: Result<T, ExecError>,
    ) -> Result<T, ExecError> {
        if let Some(d) = self.stall {
            tokio::time::sleep(d).await;
        }
        match (self.lost, result) {
            (Some(message), Ok(_)) => Err(ExecError {
                unreachable: true,
                ..ExecError::new(host, operation, message)
            }),
            (_, result) => result,
        }
    }
}

/// The rules and how many matching calls each has seen.
pub(super) struct Faults {
    rules: Vec<FaultRule>,
    calls: Mutex<Vec<u64>>,
    /// Where each call a rule fires on is logged (`operation host` per
    /// line) as it fires, before any delay: tests wait for the step they
    /// mean to interrupt instead of guessing how long it takes to come.
    fired_log: Option<PathBuf>,
}

impl Faults {
    pub(super) fn parse(specs: &[String]) -> Result<Faults, FaultRuleError> {
        let rules = specs
            .iter()
            .map(|s| FaultRule::parse(s))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Faults {
            calls: Mutex::new(vec![0; rules.len()]),
            rules,
            fired_log: None,
        })
    }

    /// Logs the calls rules fire on to `path`.
    pub(super) fn logging_to(self, path: Option<PathBuf>) -> Faults {
        Faults {
            fired_log: path,
            ..self
        }
    }

    fn log_fired(&self, operation: &str, host: &str) {
        let Some(path) = &self.fired_log else { return };
        let written = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .and_then(|mut f| writeln!(f, "{operation} {host}"));
        if let Err(e) = written {
            tracing::warn!(path = %path.display(), error = %e, "cannot log a fired mock fault");
        }
    }

    /// Counts the call against every matching rule and returns what to do.
    fn actions(&self, operation: &str, host: &str) -> Vec<FaultAction> {
        // A panic while holding the lock leaves plain counters behind; keep going.
        let mut calls = self.calls.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut actions = Vec::new();
        for (i, rule) in self.rules.iter().enumerate() {
            if rule.operation != operation || rule.host.as_deref().is_some_and(|h| h != host) {
                continue;
            }
            calls[i] += 1;
            let n = calls[i];
            let hit = match rule.calls {
                Calls::Nth(k) => n == k,
                Calls::From(k) => n >= k,
                Calls::Every => true,
            };
            if hit {
                actions.push(rule.action.clone());
            }
        }
        actions
    }

    /// Applies the rules to a call that changes nothing: a lost answer is
    /// just a failure.
    pub(super) async fn enter(&self, operation: &'static str, host: &str) -> Result<(), ExecError> {
        let after = self.enter_change(operation, host).await?;
        after.settle(host, operation, Ok(())).await
    }

    /// Applies the rules to a call that changes node state; the caller
    /// settles the returned `Aftermath` with its result.
    pub(super) async fn enter_change(&self, operation: &'static str, host: &str) -> Result<Aftermath, ExecError> {
        let mut after = Aftermath::default();
        let actions = self.actions(operation, host);
        if !actions.is_empty() {
            self.log_fired(operation, host);
        }
        for action in actions {
            match action {
                FaultAction::Delay(d) => tokio::time::sleep(d).await,
                // The message stands for what the node printed, read as
                // the remote executor reads it.
                FaultAction::Fail(msg) => {
                    return Err(ExecError {
                        timed_out: Said::TimedOut.in_text(&msg),
                        ..ExecError::new(host, operation, msg)
                    })
                }
                FaultAction::Lose(msg) => after.lost = Some(msg),
                FaultAction::Stall(d) => after.stall = Some(d),
            }
        }
        Ok(after)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_rules_are_refused() {
        for spec in ["x", "op:abc:fail", "op:1:explode", "op:1:delay"] {
            assert!(FaultRule::parse(spec).is_err(), "{spec}");
        }
        assert_eq!(FaultRule::parse("op:3+:delay:5").unwrap().calls, Calls::From(3));
    }
}
