//! Request bodies decoded as Go's `encoding/json` would: no Content-Type
//! check, unknown keys ignored, `null` as zero values, an empty body an
//! error, and (`strict_json`) no array where an object belongs and no
//! earlier value of a repeated key of the wrong type. Bodies past the
//! server's limit are `413`.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header::CONTENT_LENGTH;
use serde::de::DeserializeOwned;

use super::error::ApiError;
use super::BodyLimit;
use axum::http::StatusCode;

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, super::strict_json::JsonError> {
    let mut doc = super::strict_json::parse(bytes)?;
    if doc.value.is_null() {
        doc.value = serde_json::Value::Object(Default::default());
    }
    super::strict_json::from_document(&doc)
}

async fn read(req: Request) -> Result<Bytes, ApiError> {
    let limit = req.extensions().get::<BodyLimit>().copied();
    Bytes::from_request(req, &())
        .await
        .map_err(|rejection| match (rejection.status(), limit) {
            (StatusCode::PAYLOAD_TOO_LARGE, Some(BodyLimit(limit))) => ApiError::body_too_large(limit),
            _ => ApiError::unparsable(),
        })
}

/// A JSON body; failures are `422 request unable to be parsed`.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _: &S) -> Result<Self, Self::Rejection> {
        let bytes = read(req).await?;
        decode(&bytes).map(JsonBody).map_err(|_| ApiError::unparsable())
    }
}

/// A JSON body where Heketi answers `400 request unable to be parsed: <why>`
/// (`/admin`, `/internal/logging`).
pub struct JsonBody400<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody400<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _: &S) -> Result<Self, Self::Rejection> {
        let bytes = read(req).await?;
        decode(&bytes).map(JsonBody400).map_err(|e| {
            ApiError::new(
                axum::http::StatusCode::BAD_REQUEST,
                format!("request unable to be parsed: {e}"),
            )
        })
    }
}

/// A body read only when `Content-Length > 0` (device delete, brick evict).
pub struct OptionalJsonBody<T>(pub T);

impl<T: DeserializeOwned + Default, S: Send + Sync> FromRequest<S> for OptionalJsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _: &S) -> Result<Self, Self::Rejection> {
        let announced = req
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
        if announced == 0 {
            return Ok(OptionalJsonBody(T::default()));
        }
        let bytes = read(req).await?;
        decode(&bytes).map(OptionalJsonBody).map_err(|_| ApiError::unparsable())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::NodeAddRequest;

    #[test]
    fn go_decoding_rules() {
        let n: NodeAddRequest = decode(b"null").unwrap();
        assert_eq!(n.zone, 0);
        let n: NodeAddRequest = decode(br#"{"zone":null,"cluster":null,"extra":[1,2]}"#).unwrap();
        assert_eq!(n.cluster, "");
        assert!(decode::<NodeAddRequest>(b"").is_err());
        assert!(decode::<NodeAddRequest>(br#"{"zone":"1"}"#).is_err());
        assert!(decode::<NodeAddRequest>(br#"{"zone":1.5}"#).is_err());
    }

    #[test]
    fn arrays_for_objects_and_duplicate_keys_are_refused() {
        // Go refuses both; serde would fill fields by position or keep the last.
        assert!(decode::<NodeAddRequest>(br#"[1,{"manage":[],"storage":[]},"c",{}]"#).is_err());
        assert!(decode::<NodeAddRequest>(br#"{"zone":1,"hostnames":[["a"],["b"]]}"#).is_err());
        assert!(decode::<NodeAddRequest>(br#"{"zone":"x","zone":1}"#).is_err());
        // As in Go, a repeated key of the right type is fine: the last wins.
        let n: NodeAddRequest = decode(br#"{"hostnames":{"manage":["a"],"manage":["b"]}}"#).unwrap();
        assert_eq!(n.hostnames.manage, ["b"]);
        let n: NodeAddRequest = decode(br#"{"zone":2,"hostnames":{"manage":["a"],"storage":["b"]}}"#).unwrap();
        assert_eq!(
            (n.zone, n.hostnames.manage.as_slice()),
            (2, ["a".to_string()].as_slice())
        );
    }
}
