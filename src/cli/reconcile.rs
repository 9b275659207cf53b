//! `brickyard db reconcile [--apply] [--force]`: the reconciler's report
//! of drift between the store and the nodes, as text or (`--json`) as the
//! server wrote it; `--apply` runs the safe mends first, `--force` adds
//! the removal of orphan bricks (to the report, what it would do).

use reqwest::{Method, StatusCode};

use crate::client::ClientError;
use crate::wire::drift::{DriftKind, Finding, ReconcileReport, Remedy};

use super::{json_out, CliError, Client, Global};

const PATH: &str = "/internal/state/reconcile";

/// The report; with `apply`, the mending run first, whose answer is the
/// report read afresh: what it left, and why. `force` goes to the server
/// as `?force=true`.
pub fn run(client: &Client, global: &Global, apply: bool, force: bool) -> Result<String, CliError> {
    let path = if force {
        format!("{PATH}?force=true")
    } else {
        PATH.to_string()
    };
    let report: ReconcileReport = if apply {
        client
            .call::<()>(Method::POST, &path, None, StatusCode::OK)?
            .json()
            .map_err(ClientError::from)?
    } else {
        client.get_json(&path)?
    };
    if global.json {
        return json_out(&report);
    }
    let mut out = match (apply, force) {
        (true, false) => "The safe mends were made; what is left:\n".to_string(),
        (true, true) => "The safe mends and the forced removals were made; what is left:\n".to_string(),
        (false, _) => String::new(),
    };
    out.push_str(&text(&report));
    Ok(out)
}

fn text(report: &ReconcileReport) -> String {
    let mut out = format!("Nodes read: {}\n", list(&report.checked));
    for node in &report.unreachable {
        out.push_str(&format!("Not read: {}: {}\n", node.node, node.error));
    }
    if report.store_changed {
        out.push_str("The store kept changing while the nodes were read: findings may be of operations in progress\n");
    }
    if report.findings.is_empty() {
        out.push_str("No drift found\n");
        return out;
    }
    out.push_str(&format!("Drift found: {}\n", report.findings.len()));
    for finding in &report.findings {
        out.push_str(&finding_text(finding));
    }
    out
}

fn finding_text(f: &Finding) -> String {
    let action = match &f.remedy {
        Remedy::RemoveThinPool => "--apply removes the thin pool".to_string(),
        Remedy::AppendFstabLine => "--apply appends the brick's fstab line".to_string(),
        Remedy::RemoveOrphanBrick { pool } => {
            format!("--apply --force unmounts and removes the thin LV (its fstab line too), and its pool {pool} once unused")
        }
        Remedy::Leave { reason } => format!("left: {reason}"),
    };
    format!(
        "\n{} on {}: {}\n    Evidence: {}\n    {action}\n",
        kind_name(f.kind),
        f.node,
        f.object,
        f.evidence
    )
}

/// The kind's name as the JSON report spells it.
fn kind_name(kind: DriftKind) -> String {
    match serde_json::to_value(kind) {
        Ok(serde_json::Value::String(name)) => name,
        _ => format!("{kind:?}"),
    }
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "none".into()
    } else {
        items.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::drift::{LeftBecause, Unreachable};

    #[test]
    fn each_finding_says_what_apply_does_or_why_it_is_left() {
        let report = ReconcileReport {
            checked: vec!["node1".into()],
            store_changed: false,
            unreachable: vec![Unreachable {
                node: "node2".into(),
                error: "no route".into(),
            }],
            findings: vec![
                Finding {
                    kind: DriftKind::OrphanLv,
                    node: "node1".into(),
                    object: "vg_d/tp_ab".into(),
                    evidence: "no brick of the store uses it".into(),
                    remedy: Remedy::RemoveThinPool,
                },
                Finding {
                    kind: DriftKind::MissingLv,
                    node: "node1".into(),
                    object: "vg_d/brick_cd".into(),
                    evidence: "brick cd of volume v".into(),
                    remedy: Remedy::Leave {
                        reason: LeftBecause::BrickLost,
                    },
                },
            ],
        };
        assert_eq!(
            text(&report),
            "Nodes read: node1\nNot read: node2: no route\nDrift found: 2\n\
             \norphan-lv on node1: vg_d/tp_ab\n    Evidence: no brick of the store uses it\n    --apply removes the thin pool\n\
             \nmissing-lv on node1: vg_d/brick_cd\n    Evidence: brick cd of volume v\n    \
             left: the brick's data is not where the store says: evict the brick or restore it\n"
        );
        assert_eq!(text(&ReconcileReport::default()), "Nodes read: none\nNo drift found\n");
    }
}
