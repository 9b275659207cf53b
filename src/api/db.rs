//! `/db/check`

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::error::ApiError;
use super::AppState;

/// Heketi pretty-prints these with four spaces.
fn indented<T: Serialize>(value: &T) -> Response {
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

pub async fn check(State(app): State<AppState>) -> Result<Response, ApiError> {
    Ok(indented(&app.engine.check()?))
}
