//! One `ApiError` for every failure the HTTP layer reports: a status and
//! Heketi's plain-text message.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::ops::OpError;
use crate::wire::validate::Violations;

#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    /// A `Retry-After` beyond the throttle's (which every `429` carries).
    pub retry_after: Option<&'static str>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
            retry_after: None,
        }
    }

    /// No route matched (Heketi's router 404).
    pub fn invalid_path() -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "Invalid path or request")
    }

    pub fn unparsable() -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "request unable to be parsed")
    }

    /// A body over the limit; Heketi had no limit, so the text is Brickyard's.
    pub fn body_too_large(limit: usize) -> ApiError {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body too large: the limit is {limit} bytes"),
        )
    }

    pub fn validation(v: Violations) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, format!("validation failed: {v}"))
    }
}

impl From<OpError> for ApiError {
    fn from(e: OpError) -> Self {
        let status = match &e {
            OpError::NotFound(_) => StatusCode::NOT_FOUND,
            OpError::BadRequest(_) => StatusCode::BAD_REQUEST,
            // The store is out of reach (etcd without a quorum) or this
            // replica no longer leads: retry, likely elsewhere or later.
            OpError::Store(e) if e.is_unavailable() => StatusCode::SERVICE_UNAVAILABLE,
            OpError::Conflict(_) => StatusCode::CONFLICT,
            OpError::Busy | OpError::Retry => StatusCode::TOO_MANY_REQUESTS,
            OpError::Internal(_)
            | OpError::Incomplete(_)
            | OpError::Undecided(_)
            | OpError::Exec(_)
            | OpError::Store(_)
            | OpError::NoGlusterNode(_)
            | OpError::NoReplacement(_) => StatusCode::INTERNAL_SERVER_ERROR,
            OpError::NotImplemented(_) => StatusCode::NOT_IMPLEMENTED,
        };
        let busy = matches!(e, OpError::Busy | OpError::Retry);
        let mut err = ApiError::new(status, e.to_string());
        if status == StatusCode::SERVICE_UNAVAILABLE {
            err.retry_after = Some(UNAVAILABLE_RETRY_SECS);
        }
        if busy {
            err.message = "Server busy. Retry operation later.".into();
        }
        err
    }
}

/// Seconds a client is told to wait while the store is out of reach.
pub const UNAVAILABLE_RETRY_SECS: &str = "2";

/// Seconds a throttled client is told to wait.
pub const RETRY_AFTER_SECS: &str = "5";

/// Go's `http.Error`: text/plain, nosniff, the message and a newline.
pub fn plain_text(status: StatusCode, message: &str) -> Response {
    let mut resp = (status, format!("{message}\n")).into_response();
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    resp
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = plain_text(self.status, &self.message);
        if self.status == StatusCode::TOO_MANY_REQUESTS {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER_SECS));
        }
        if let Some(after) = self.retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static(after));
        }
        resp
    }
}
