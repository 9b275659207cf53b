//! `/db/check`, `/db/dump` and `/backup/db`

use axum::extract::{Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::error::ApiError;
use super::AppState;

/// Heketi pretty-prints these with four spaces.
pub(super) fn indented<T: Serialize>(value: &T) -> Response {
    let mut out = Vec::new();
    let mut ser =
        serde_json::Serializer::with_formatter(&mut out, serde_json::ser::PrettyFormatter::with_indent(b"    "));
    if value.serialize(&mut ser).is_err() {
        return ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "cannot render report").into_response();
    }
    out.push(b'\n');
    let mut resp = (StatusCode::OK, out).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=UTF-8"),
    );
    resp
}

#[derive(Deserialize, Default)]
pub struct CheckQuery {
    #[serde(default)]
    nodes: Option<String>,
}

/// `?nodes=true` adds the store against the nodes (Brickyard's extension).
pub async fn check(State(app): State<AppState>, Query(query): Query<CheckQuery>) -> Result<Response, ApiError> {
    let with_nodes = matches!(query.nodes.as_deref(), Some("true" | "1"));
    let report = if with_nodes {
        crate::ops::check::check_with_nodes(&app.engine).await?
    } else {
        crate::ops::check::check(&app.engine)?
    };
    Ok(indented(&report))
}

/// Heketi's export document of the live store, taken as one snapshot.
pub async fn dump(State(app): State<AppState>) -> Result<Response, ApiError> {
    let db = crate::ops::dump::export_live(&app.engine).await?;
    Ok(indented(&db))
}

/// A consistent copy of the whole store, taken online, in Brickyard's own
/// format; `db import` restores it.
pub async fn backup(State(app): State<AppState>) -> Result<Response, ApiError> {
    let backup = crate::ops::dump::backup_live(&app.engine).await?;
    let body = serde_json::to_vec(&backup)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("backup failed: {e}")))?;
    let mut resp = (StatusCode::OK, body).into_response();
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    headers.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"brickyard-backup.json\""),
    );
    Ok(resp)
}
