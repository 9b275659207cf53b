//! `/nodes`

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use super::body::JsonBody;
use super::error::ApiError;
use super::{accepted, json, AppState, HexId};
use crate::ops::nodes::{NewNode, TagChange};
use crate::store::records::{EntityState, Tagged};
use crate::wire::{NodeAddRequest, NodeInfoResponse, StateRequest, TagsChangeRequest};

pub async fn add(State(app): State<AppState>, JsonBody(req): JsonBody<NodeAddRequest>) -> Result<Response, ApiError> {
    req.validate().map_err(ApiError::validation)?;
    let queue_id = crate::ops::nodes::add_node(
        &app.engine,
        NewNode {
            cluster: req.cluster,
            zone: req.zone,
            manage: req.hostnames.manage,
            storage: req.hostnames.storage,
            tags: req.tags,
        },
    )
    .await?;
    Ok(accepted(&queue_id))
}

pub async fn info(State(app): State<AppState>, HexId(id): HexId) -> Result<Response, ApiError> {
    let view = crate::ops::nodes::node_info(&app.engine, &id)?;
    Ok(json(StatusCode::OK, &NodeInfoResponse::from(view)))
}

pub async fn delete(State(app): State<AppState>, HexId(id): HexId) -> Result<Response, ApiError> {
    let queue_id = crate::ops::nodes::delete_node(&app.engine, &id).await?;
    Ok(accepted(&queue_id))
}

/// Decodes and validates a state request (nodes and devices share it).
pub fn parse_state(req: &StateRequest) -> Result<EntityState, ApiError> {
    req.validate().map_err(ApiError::validation)?;
    Ok(match req.state.as_str() {
        "offline" => EntityState::Offline,
        "failed" => EntityState::Failed,
        _ => EntityState::Online,
    })
}

pub fn parse_tags(req: &TagsChangeRequest) -> Result<TagChange, ApiError> {
    req.validate().map_err(ApiError::validation)?;
    Ok(match req.change_type.as_str() {
        "set" => TagChange::Set,
        "delete" => TagChange::Delete,
        _ => TagChange::Update,
    })
}

pub async fn set_state(
    State(app): State<AppState>,
    HexId(id): HexId,
    JsonBody(req): JsonBody<StateRequest>,
) -> Result<Response, ApiError> {
    let id = &id;
    let target = parse_state(&req)?;
    let queue_id = crate::ops::nodes::set_node_state(&app.engine, id, target, req.healcheck != "disable").await?;
    Ok(accepted(&queue_id))
}

/// `POST /nodes/{id}/tags` and `POST /devices/{id}/tags`.
pub async fn set_tags<R: Tagged>(
    State(app): State<AppState>,
    HexId(id): HexId,
    JsonBody(req): JsonBody<TagsChangeRequest>,
) -> Result<Response, ApiError> {
    let change = parse_tags(&req)?;
    let tags = crate::ops::nodes::set_tags::<R>(&app.engine, &id, change, &req.tags).await?;
    Ok(json(StatusCode::OK, &tags))
}
