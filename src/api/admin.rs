//! `/admin`: the administrative mode.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::body::JsonBody400;
use super::error::ApiError;
use super::{json, AppState};
use crate::config::AdminMode;
use crate::wire::validate::{Violations, BLANK};
use crate::wire::AdminState;

pub async fn get_mode(State(app): State<AppState>) -> Response {
    json(
        StatusCode::OK,
        &AdminState {
            state: app.admin_mode().as_str().to_string(),
        },
    )
}

pub async fn set_mode(
    State(app): State<AppState>,
    JsonBody400(req): JsonBody400<AdminState>,
) -> Result<Response, ApiError> {
    let Some(mode) = AdminMode::parse(&req.state) else {
        let mut v = Violations::default();
        v.add(
            "state",
            if req.state.is_empty() {
                BLANK
            } else {
                "must be a valid value"
            },
        );
        return Err(ApiError::validation(v));
    };
    app.set_admin_mode(mode);
    tracing::warn!(mode = mode.as_str(), "administrative mode changed");
    Ok(StatusCode::NO_CONTENT.into_response())
}
