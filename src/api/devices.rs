//! `/devices`

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::body::{JsonBody, OptionalJsonBody};
use super::error::ApiError;
use super::nodes::{parse_state, parse_tags};
use super::{accepted, json, route_id, AppState};
use crate::ops::devices::NewDevice;
use crate::wire::{
    DeviceAddRequest, DeviceDeleteOptions, DeviceInfoResponse, StateRequest, TagsChangeRequest,
};

pub async fn add(
    State(app): State<AppState>,
    JsonBody(req): JsonBody<DeviceAddRequest>,
) -> Result<Response, ApiError> {
    req.validate().map_err(ApiError::validation)?;
    let queue_id = app
        .engine
        .add_device(NewDevice {
            node: req.node,
            name: req.name,
            destroy_data: req.destroydata,
            tags: req.tags,
        })
        .await?;
    Ok(accepted(&queue_id))
}

pub async fn info(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let view = app.engine.device_info(route_id(&id)?)?;
    Ok(json(StatusCode::OK, &DeviceInfoResponse::from(view)))
}

pub async fn delete(
    State(app): State<AppState>,
    Path(id): Path<String>,
    OptionalJsonBody(options): OptionalJsonBody<DeviceDeleteOptions>,
) -> Result<Response, ApiError> {
    let queue_id = app
        .engine
        .delete_device(route_id(&id)?, options.forceforget)
        .await?;
    Ok(accepted(&queue_id))
}

pub async fn set_state(
    State(app): State<AppState>,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<StateRequest>,
) -> Result<Response, ApiError> {
    let id = route_id(&id)?;
    let target = parse_state(&req)?;
    let queue_id = app.engine.set_device_state(id, target).await?;
    Ok(accepted(&queue_id))
}

pub async fn set_tags(
    State(app): State<AppState>,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<TagsChangeRequest>,
) -> Result<Response, ApiError> {
    let id = route_id(&id)?;
    let change = parse_tags(&req)?;
    let tags = app.engine.set_device_tags(id, change, &req.tags).await?;
    Ok(json(StatusCode::OK, &tags))
}

pub async fn resync(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let queue_id = app.engine.resync_device(route_id(&id)?).await?;
    Ok(accepted(&queue_id))
}
