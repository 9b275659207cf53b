//! `/operations`: the journal as Heketi's pending operations.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use super::body::JsonBody;
use super::error::ApiError;
use super::{accepted, json, AppState, HexId};
use crate::ids::is_full_id;
use crate::ops::status;
use crate::wire::validate::Violations;
use crate::wire::{
    OperationsCleanupRequest, OperationsInfo, PendingChange, PendingOperationDetails, PendingOperationInfo,
    PendingOperationList,
};

pub async fn summary(State(app): State<AppState>) -> Result<Response, ApiError> {
    let counts = status::operation_counts(&app.engine)?;
    Ok(json(
        StatusCode::OK,
        &OperationsInfo {
            total: counts.total,
            in_flight: counts.in_flight,
            stale: counts.stale,
            failed: counts.failed,
            new: counts.new,
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
    let pendingoperations = status::pending_operations(&app.engine)?
        .into_iter()
        .map(|p| PendingOperationInfo {
            sub_status: sub_status(&app, &p.entry.id),
            type_name: p.heketi_type.name().into(),
            status: p.entry.status.wire_name().into(),
            id: p.entry.id,
        })
        .collect();
    Ok(json(StatusCode::OK, &PendingOperationList { pendingoperations }))
}

pub async fn details(State(app): State<AppState>, HexId(id): HexId) -> Result<Response, ApiError> {
    let id = &id;
    let status::PendingOperation { entry, heketi_type } = status::pending_operations(&app.engine)?
        .into_iter()
        .find(|p| p.entry.id == *id)
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("Id not found: {id}")))?;
    Ok(json(
        StatusCode::OK,
        &PendingOperationDetails {
            type_name: heketi_type.name().into(),
            status: entry.status.wire_name().into(),
            sub_status: String::new(),
            changes: entry
                .action
                .op()
                .changes()
                .into_iter()
                .map(|c| PendingChange {
                    description: c.kind.description().into(),
                    id: c.id,
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
