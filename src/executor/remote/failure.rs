//! What a failed command left, and how Heketi's success rules read it:
//! the error text users see, whether the node was reached at all, and
//! what the command's words say (gluster and LVM report "already gone" or
//! "already done" only in words, classified by `parse::Said`).

use crate::executor::commands::Command;
use crate::executor::parse::{ParseError, Said};
use crate::executor::transport::{CommandOutput, TransportError};
use crate::executor::ExecError;

/// Why a batch stopped: the command and what it left, or why it never ran.
#[derive(Debug)]
pub(super) struct Failure {
    /// The command that failed; `None` when there was none to try.
    pub command: Option<Command>,
    pub outcome: Outcome,
}

/// What became of a failed command.
#[derive(Debug)]
pub(super) enum Outcome {
    /// It ran and failed.
    Ran(CommandOutput),
    /// It ran, but what it printed made no sense (or was gluster's XML
    /// saying it failed).
    Unreadable(ParseError),
    /// It could not be run or did not finish.
    NotRun(TransportError),
}

/// What LVM and udev say when a device path does not lead to its PV.
const PATH_MISSING: [&str; 6] = [
    "not found",
    "no pv",
    "no device found",
    "failed to find",
    "no such file",
    "couldn't find",
];

impl Failure {
    /// What a run of `command` left.
    pub(super) fn of(command: &Command, result: Result<CommandOutput, TransportError>) -> Failure {
        Failure {
            command: Some(command.clone()),
            outcome: match result {
                Ok(out) => Outcome::Ran(out),
                Err(e) => Outcome::NotRun(e),
            },
        }
    }

    /// The command ran but its output made no sense.
    pub(super) fn unreadable(command: Command, why: ParseError) -> Failure {
        Failure {
            command: Some(command),
            outcome: Outcome::Unreadable(why),
        }
    }

    /// Nothing could be tried.
    pub(super) fn untried(why: TransportError) -> Failure {
        Failure {
            command: None,
            outcome: Outcome::NotRun(why),
        }
    }

    /// Heketi's error text: stderr, else stdout, else the exit status; or
    /// why the output made no sense; or the transport's error.
    pub(super) fn text(&self) -> String {
        match &self.outcome {
            Outcome::Ran(out) if !out.stderr.trim().is_empty() => out.stderr.trim().to_string(),
            Outcome::Ran(out) if !out.stdout.trim().is_empty() => out.stdout.trim().to_string(),
            Outcome::Ran(out) => format!("exit status {}", out.status),
            Outcome::Unreadable(e) => e.to_string().trim().to_string(),
            Outcome::NotRun(e) => e.0.clone(),
        }
    }

    pub(super) fn unreachable(&self) -> bool {
        matches!(self.outcome, Outcome::NotRun(_))
    }

    /// A time limit ran out: the transport's or the batch's, or the
    /// command's own (gluster's `--timeout`), which only its words tell.
    pub(super) fn timed_out(&self) -> bool {
        match &self.outcome {
            Outcome::NotRun(e) => e.is_timeout(),
            Outcome::Ran(_) | Outcome::Unreadable(_) => self.says(Said::TimedOut),
        }
    }

    pub(super) fn mentions(&self, needle: &str) -> bool {
        self.text().to_lowercase().contains(needle)
    }

    pub(super) fn says(&self, said: Said) -> bool {
        said.in_text(&self.text())
    }

    /// LVM's answer for an LV that is not there.
    pub(super) fn lv_gone(&self) -> bool {
        self.says(Said::NotFound) || self.says(Said::FailedToFind)
    }

    /// A device path that does not lead to the PV: the next one may.
    pub(super) fn path_missing(&self) -> bool {
        PATH_MISSING.iter().any(|needle| self.mentions(needle))
    }

    pub(super) fn into_error(self, host: &str, operation: &'static str) -> ExecError {
        let line = self.command.as_ref().map(|c| c.line.as_str()).unwrap_or_default();
        let shown: String = line.chars().take(300).collect();
        ExecError {
            unreachable: self.unreachable(),
            timed_out: self.timed_out(),
            ..ExecError::new(host, operation, format!("{host}: \"{shown}\" failed: {}", self.text()))
        }
    }
}
