//! `/blockvolumes`: create, list, info, delete and expand, with Heketi's
//! request checks; the operations are `ops::block_volumes`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use super::body::JsonBody;
use super::error::ApiError;
use super::volumes::{check_name, check_size};
use super::{accepted, json, AppState, HexId};
use crate::ops::block_volumes::BlockVolumeCreate;
use crate::wire::block_volumes::{BlockVolumeCreateRequest, BlockVolumeExpandRequest, BlockVolumeInfoResponse};
use crate::wire::validate::{limits, Violations};

pub async fn create(
    State(app): State<AppState>,
    JsonBody(req): JsonBody<BlockVolumeCreateRequest>,
) -> Result<Response, ApiError> {
    let mut v = Violations::default();
    check_size(&mut v, "size", req.size);
    check_name(&mut v, &req.name);
    if req.hacount < 0 {
        v.add("hacount", "must be no less than 1");
    }
    // A limit Heketi did not have: a client cannot make the server store megabytes.
    if req.clusters.len() > limits::HOSTNAMES || req.clusters.iter().any(|c| c.len() > limits::ID) {
        v.add(
            "clusters",
            format!(
                "at most {} cluster ids of at most {} characters each",
                limits::HOSTNAMES,
                limits::ID
            ),
        );
    }
    v.into_result().map_err(ApiError::validation)?;
    let queue_id = crate::ops::block_volumes::create_block_volume(
        &app.engine,
        BlockVolumeCreate {
            size_gib: req.size as u64,
            name: Some(req.name).filter(|n| !n.is_empty()),
            clusters: req.clusters,
            hacount: u64::try_from(req.hacount).ok().filter(|h| *h > 0),
            auth: req.auth,
        },
    )
    .await?;
    Ok(accepted(&queue_id))
}

pub async fn list(State(app): State<AppState>) -> Result<Response, ApiError> {
    let ids = crate::ops::block_volumes::list_block_volumes(&app.engine)?;
    Ok(json(StatusCode::OK, &serde_json::json!({ "blockvolumes": ids })))
}

pub async fn info(State(app): State<AppState>, HexId(id): HexId) -> Result<Response, ApiError> {
    let record = crate::ops::block_volumes::block_volume_info(&app.engine, &id)?;
    Ok(json(StatusCode::OK, &BlockVolumeInfoResponse::from(&record)))
}

pub async fn delete(State(app): State<AppState>, HexId(id): HexId) -> Result<Response, ApiError> {
    let queue_id = crate::ops::block_volumes::delete_block_volume(&app.engine, &id).await?;
    Ok(accepted(&queue_id))
}

pub async fn expand(
    State(app): State<AppState>,
    HexId(id): HexId,
    JsonBody(req): JsonBody<BlockVolumeExpandRequest>,
) -> Result<Response, ApiError> {
    let mut v = Violations::default();
    check_size(&mut v, "new_size", req.new_size);
    v.into_result().map_err(ApiError::validation)?;
    let queue_id = crate::ops::block_volumes::expand_block_volume(&app.engine, &id, req.new_size as u64).await?;
    Ok(accepted(&queue_id))
}
