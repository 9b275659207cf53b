//! `/operations`: the journal as Heketi's pending operations.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use super::body::JsonBody;
use super::error::ApiError;
use super::{accepted, json, AppState, HexId};
use crate::ids::is_full_id;
use crate::ops::journal::{JournalEntry, JournalStatus};
use crate::wire::validate::Violations;
use crate::wire::{
    OperationsCleanupRequest, OperationsInfo, PendingChange, PendingOperationDetails, PendingOperationInfo,
    PendingOperationList,
};

/// Journal entries of the kinds Heketi reports as pending operations.
fn entries(app: &AppState) -> Result<Vec<(JournalEntry, &'static str)>, ApiError> {
    Ok(app
        .engine
        .store
        .scan::<JournalEntry>()
        .map_err(crate::ops::OpError::from)?
        .into_iter()
        .filter_map(|e| e.action.heketi_type().map(|t| (e, t)))
        .collect())
}

pub async fn summary(State(app): State<AppState>) -> Result<Response, ApiError> {
    let all = entries(&app)?;
    let count = |s: JournalStatus| all.iter().filter(|(e, _)| e.status == s).count();
    Ok(json(
        StatusCode::OK,
        &OperationsInfo {
            total: all.len(),
            in_flight: app.engine.throttle.in_use(),
            stale: count(JournalStatus::Stale),
            failed: count(JournalStatus::Failed),
            new: count(JournalStatus::New),
        },
    ))
}

fn sub_status(app: &AppState, id: &str) -> String {
    if app.engine.is_in_flight(id) {
        "in-flight".into()
    } else {
        String::new()
    }
}

pub async fn list(State(app): State<AppState>) -> Result<Response, ApiError> {
    let pendingoperations = entries(&app)?
        .into_iter()
        .map(|(e, type_name)| PendingOperationInfo {
            sub_status: sub_status(&app, &e.id),
            type_name: type_name.into(),
            status: e.status.wire_name().into(),
            id: e.id,
        })
        .collect();
    Ok(json(StatusCode::OK, &PendingOperationList { pendingoperations }))
}

pub async fn details(State(app): State<AppState>, HexId(id): HexId) -> Result<Response, ApiError> {
    let id = &id;
    let (entry, type_name) = entries(&app)?
        .into_iter()
        .find(|(e, _)| e.id == *id)
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("Id not found: {id}")))?;
    Ok(json(
        StatusCode::OK,
        &PendingOperationDetails {
            type_name: type_name.into(),
            status: entry.status.wire_name().into(),
            sub_status: String::new(),
            changes: entry
                .action
                .changes()
                .into_iter()
                .map(|(id, d)| PendingChange {
                    id,
                    description: d.into(),
                })
                .collect(),
            id: entry.id,
        },
    ))
}

pub async fn cleanup(
    State(app): State<AppState>,
    JsonBody(req): JsonBody<OperationsCleanupRequest>,
) -> Result<Response, ApiError> {
    let mut v = Violations::default();
    if req.operations.len() > 32 {
        v.add(
            "operations",
            format!("too many ids specified ({}), up to 32 supported", req.operations.len()),
        );
    } else if let Some(bad) = req.operations.iter().find(|id| !is_full_id(id)) {
        v.add("operations", format!("{bad} is not a valid UUID"));
    }
    v.into_result().map_err(ApiError::validation)?;
    let queue_id = app.engine.cleanup(req.operations).await?;
    Ok(accepted(&queue_id))
}
