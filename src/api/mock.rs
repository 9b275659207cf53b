//! `/internal/mock/state`: the mock executor's node state, in the shape of
//! `<store>.mock-nodes.json`, for tests and tools that look at the "nodes"
//! of a running server. Authenticated as the other internal routes are.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use super::error::ApiError;
use super::{json, AppState};
use crate::ops::status;

pub async fn state(State(app): State<AppState>) -> Result<Response, ApiError> {
    let engine = app.engine.clone();
    // A copy of every node's state, after the mock's loader if it still
    // runs: off the runtime's threads.
    let nodes = tokio::task::spawn_blocking(move || status::mock_nodes(&engine))
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("mock state: {e}")))?;
    match nodes {
        Some(Ok(nodes)) => Ok(json(StatusCode::OK, &nodes)),
        Some(Err(e)) => Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "No mock node state: the executor is not the mock",
        )),
    }
}
