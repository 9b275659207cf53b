//! `/queue/{id}`: the asynchronous request protocol.

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::error::{plain_text, ApiError};
use super::{AppState, HexId};
use crate::store::records::QueueOutcome;

pub async fn poll(State(app): State<AppState>, HexId(id): HexId) -> Result<Response, ApiError> {
    let outcome = crate::ops::queue::poll_queue(&app.engine, &id).await?;
    Ok(match outcome {
        QueueOutcome::Pending => {
            let mut resp = StatusCode::OK.into_response();
            resp.headers_mut().insert("x-pending", HeaderValue::from_static("true"));
            resp
        }
        QueueOutcome::SeeOther(location) => {
            // Go's http.Redirect body; clients ignore it.
            let body = format!("<a href=\"{location}\">See Other</a>.\n\n");
            let mut resp = (StatusCode::SEE_OTHER, body).into_response();
            let headers = resp.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            if let Ok(v) = HeaderValue::from_str(&location) {
                headers.insert(header::LOCATION, v);
            }
            resp
        }
        QueueOutcome::NoContent => StatusCode::NO_CONTENT.into_response(),
        QueueOutcome::Failed(message) => plain_text(StatusCode::INTERNAL_SERVER_ERROR, &message),
    })
}
