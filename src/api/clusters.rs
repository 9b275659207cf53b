//! `/clusters`

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::body::JsonBody;
use super::error::ApiError;
use super::{json, AppState, HexId};
use crate::store::views::ClusterView;
use crate::wire::{ClusterFlagsRequest, ClusterInfoBody, ClusterListResponse};

pub async fn create(
    State(app): State<AppState>,
    JsonBody(req): JsonBody<ClusterFlagsRequest>,
) -> Result<Response, ApiError> {
    let view = crate::ops::clusters::create_cluster(&app.engine, req.block, req.file).await?;
    cluster(StatusCode::CREATED, &view)
}

pub async fn list(State(app): State<AppState>) -> Result<Response, ApiError> {
    let clusters = crate::ops::clusters::list_clusters(&app.engine)?;
    Ok(json(StatusCode::OK, &ClusterListResponse { clusters }))
}

pub async fn info(State(app): State<AppState>, HexId(id): HexId) -> Result<Response, ApiError> {
    let view = crate::ops::clusters::cluster_info(&app.engine, &id)?;
    cluster(StatusCode::OK, &view)
}

fn cluster(status: StatusCode, view: &ClusterView) -> Result<Response, ApiError> {
    let body = ClusterInfoBody::of(view).map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the cluster's volume list is not JSON: {e}"),
        )
    })?;
    Ok(json(status, &body))
}

pub async fn set_flags(
    State(app): State<AppState>,
    HexId(id): HexId,
    JsonBody(req): JsonBody<ClusterFlagsRequest>,
) -> Result<Response, ApiError> {
    crate::ops::clusters::set_cluster_flags(&app.engine, &id, req.block, req.file).await?;
    // Heketi answers with a JSON content type and no body.
    let mut resp = StatusCode::OK.into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=UTF-8"),
    );
    Ok(resp)
}

pub async fn delete(State(app): State<AppState>, HexId(id): HexId) -> Result<Response, ApiError> {
    crate::ops::clusters::delete_cluster(&app.engine, &id).await?;
    Ok(StatusCode::OK.into_response())
}
