//! `/devices`

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use super::body::{JsonBody, OptionalJsonBody};
use super::error::ApiError;
use super::nodes::parse_state;
use super::{accepted, json, AppState, HexId};
use crate::ops::devices::NewDevice;
use crate::wire::{DeviceAddRequest, DeviceDeleteOptions, DeviceInfoResponse, StateRequest};

pub async fn add(State(app): State<AppState>, JsonBody(req): JsonBody<DeviceAddRequest>) -> Result<Response, ApiError> {
    req.validate().map_err(ApiError::validation)?;
    let queue_id = crate::ops::devices::add_device(
        &app.engine,
        NewDevice {
            node: req.node,
            name: req.name,
            destroy_data: req.destroydata,
            tags: req.tags,
        },
    )
    .await?;
    Ok(accepted(&queue_id))
}

pub async fn info(State(app): State<AppState>, HexId(id): HexId) -> Result<Response, ApiError> {
    let view = crate::ops::devices::device_info(&app.engine, &id)?;
    Ok(json(StatusCode::OK, &DeviceInfoResponse::from(view)))
}

pub async fn delete(
    State(app): State<AppState>,
    HexId(id): HexId,
    OptionalJsonBody(options): OptionalJsonBody<DeviceDeleteOptions>,
) -> Result<Response, ApiError> {
    let queue_id = crate::ops::devices::delete_device(&app.engine, &id, options.forceforget).await?;
    Ok(accepted(&queue_id))
}

pub async fn set_state(
    State(app): State<AppState>,
    HexId(id): HexId,
    JsonBody(req): JsonBody<StateRequest>,
) -> Result<Response, ApiError> {
    let id = &id;
    let target = parse_state(&req)?;
    let queue_id = crate::ops::devices::set_device_state(&app.engine, id, target, req.healcheck != "disable").await?;
    Ok(accepted(&queue_id))
}

pub async fn resync(State(app): State<AppState>, HexId(id): HexId) -> Result<Response, ApiError> {
    let queue_id = crate::ops::devices::resync_device(&app.engine, &id).await?;
    Ok(accepted(&queue_id))
}
