//! `/blockvolumes`: listing and info. Creating, deleting and expanding
//! block volumes needs gluster-block on the storage nodes, which Brickyard
//! does not drive yet: those answer 501.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use super::error::ApiError;
use super::{json, AppState, HexId};
use crate::wire::block_volumes::BlockVolumeInfoResponse;

pub async fn list(State(app): State<AppState>) -> Result<Response, ApiError> {
    let ids = crate::ops::block_volumes::list_block_volumes(&app.engine)?;
    Ok(json(StatusCode::OK, &serde_json::json!({ "blockvolumes": ids })))
}

pub async fn info(State(app): State<AppState>, HexId(id): HexId) -> Result<Response, ApiError> {
    let record = crate::ops::block_volumes::block_volume_info(&app.engine, &id)?;
    Ok(json(StatusCode::OK, &BlockVolumeInfoResponse::from(&record)))
}

pub async fn not_implemented() -> ApiError {
    ApiError::new(
        StatusCode::NOT_IMPLEMENTED,
        "Block volumes (gluster-block) are not implemented in this Brickyard release",
    )
}
