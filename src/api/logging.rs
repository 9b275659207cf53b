//! `/internal/logging`

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use super::body::JsonBody400;
use super::error::ApiError;
use super::{json, AppState};
use crate::wire::LogLevelInfo;

fn current(app: &AppState) -> Response {
    let loglevel = BTreeMap::from([("glusterfs".to_string(), app.log.level())]);
    json(StatusCode::OK, &LogLevelInfo { loglevel })
}

pub async fn get_level(State(app): State<AppState>) -> Response {
    current(&app)
}

pub async fn set_level(
    State(app): State<AppState>,
    JsonBody400(req): JsonBody400<LogLevelInfo>,
) -> Result<Response, ApiError> {
    let Some(level) = req.loglevel.get("glusterfs") else {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Only \"glusterfs\" logger may be modified",
        ));
    };
    if !level.is_empty() {
        app.log
            .set(level)
            .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()))?;
    }
    Ok(current(&app))
}
