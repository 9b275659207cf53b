//! JWT authentication as Heketi does it: HMAC-signed tokens whose `iss`
//! picks the key, a `qsh` claim binding the token to one request, and the
//! `user` issuer limited to `/volumes`.

use crate::wire::qsh::qsh;
use axum::http::{HeaderMap, Method, StatusCode};
use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use subtle::ConstantTimeEq;

use super::error::ApiError;
use crate::config::AuthConfig;

#[derive(Deserialize, Debug)]
struct Claims {
    iss: Option<String>,
    exp: Option<i64>,
    iat: Option<i64>,
    nbf: Option<i64>,
    qsh: Option<String>,
}

#[derive(Deserialize)]
struct Header {
    alg: Option<String>,
}

/// Who a token speaks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Issuer {
    Admin,
    User,
}

fn invalid(reason: impl std::fmt::Display) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, format!("Invalid JWT token: {reason}"))
}

/// Go's `time.Duration` text for whole seconds: `5s`, `1m5s`, `2h0m5s`.
pub fn go_duration(secs: i64) -> String {
    let secs = secs.max(0);
    let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, _) => format!("{m}m{s}s"),
        _ => format!("{h}h{m}m{s}s"),
    }
}

fn decode_segment<T: serde::de::DeserializeOwned>(segment: &str) -> Result<T, ApiError> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(segment.trim_end_matches('='))
        .map_err(|e| invalid(format!("illegal base64 data: {e}")))?;
    serde_json::from_slice(&bytes).map_err(invalid)
}

/// Checks the request's token; returns the issuer.
pub fn authenticate(
    auth: &AuthConfig,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    now: i64,
) -> Result<Issuer, ApiError> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)
        .map(|v| v.to_str().unwrap_or(""))
        .unwrap_or("");
    if value.is_empty() {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "Required authorization token not found",
        ));
    }
    let parts: Vec<&str> = value.split_whitespace().collect();
    if parts.len() != 2 || !parts[0].eq_ignore_ascii_case("bearer") {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "Authorization header format must be Bearer {token}",
        ));
    }
    let token = parts[1];
    let segments: Vec<&str> = token.split('.').collect();
    if segments.len() != 3 {
        return Err(invalid("token contains an invalid number of segments"));
    }
    let header: Header = decode_segment(segments[0])?;
    let algorithm = match header.alg.as_deref() {
        Some("HS256") => Algorithm::HS256,
        Some("HS384") => Algorithm::HS384,
        Some("HS512") => Algorithm::HS512,
        other => return Err(invalid(format!("Unexpected signing method: {}", other.unwrap_or("")))),
    };
    let unverified: Claims = decode_segment(segments[1])?;
    let (issuer, key) = match unverified.iss.as_deref() {
        None | Some("") => return Err(invalid("Token missing iss claim")),
        Some("admin") => (Issuer::Admin, &auth.admin_key),
        Some("user") => (Issuer::User, &auth.user_key),
        Some(_) => return Err(invalid("Unknown user")),
    };

    // The library verifies the HMAC in constant time; time claims are
    // checked below with Heketi's rules and messages.
    let mut validation = Validation::new(algorithm);
    validation.algorithms = vec![algorithm];
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let claims = jsonwebtoken::decode::<Claims>(token, &DecodingKey::from_secret(key.as_bytes()), &validation)
        .map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::InvalidSignature => {
                invalid("signature is invalid (client and server secrets may not match)")
            }
            _ => invalid(e),
        })?
        .claims;

    let exp = claims.exp.unwrap_or(0);
    if exp == 0 || now > exp.saturating_add(auth.exp_leeway_secs as i64) {
        return Err(invalid(format!("Token is expired by {}", go_duration(now - exp))));
    }
    if let Some(iat) = claims.iat {
        if now < iat.saturating_sub(auth.iat_leeway_secs as i64) {
            return Err(invalid(
                "Token used before issued (client and server clocks may differ)",
            ));
        }
    }
    if let Some(nbf) = claims.nbf {
        if now < nbf {
            return Err(invalid("token is not valid yet"));
        }
    }
    let expected = qsh(method.as_str(), path);
    let presented = claims.qsh.unwrap_or_default();
    if !bool::from(expected.as_bytes().ct_eq(presented.as_bytes())) {
        return Err(ApiError::new(StatusCode::UNAUTHORIZED, "Invalid qsh claim in token"));
    }
    if issuer == Issuer::User && path != "/volumes" {
        return Err(ApiError::new(StatusCode::UNAUTHORIZED, "Administrator access required"));
    }
    Ok(issuer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    const REFERENCE_TOKEN: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJhZG1pbiIsImlhdCI6MTcwMDAwMDAwMCwiZXhwIjoxNzAwMDAwMzAwLCJxc2giOiI0NzQ5YTU5ZGU4N2MyN2M5YjJmNDk1YzVmMTMwOWIyNTI1NjgxZGZlMzBjOGE3YjgzNjI1OTAxYjEzMmE5YzI2In0.Sc7QMs_4QCD3CZ0kxyTCeA_l7Ss621hOB7yMkEuo-Yg";

    fn auth(exp_leeway: u64) -> AuthConfig {
        AuthConfig {
            enabled: true,
            admin_key: "My Secret".into(),
            user_key: "user secret".into(),
            iat_leeway_secs: 120,
            exp_leeway_secs: exp_leeway,
        }
    }

    fn bearer(token: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            "authorization",
            HeaderValue::from_str(&format!("bearer {token}")).unwrap(),
        );
        h
    }

    #[test]
    fn reference_token_is_accepted_only_in_its_window() {
        let h = bearer(REFERENCE_TOKEN);
        let ok = authenticate(&auth(0), &Method::GET, "/clusters", &h, 1_700_000_100);
        assert_eq!(ok.unwrap(), Issuer::Admin);
        assert!(authenticate(&auth(0), &Method::GET, "/clusters", &h, 1_699_999_880).is_ok());
        let early = authenticate(&auth(0), &Method::GET, "/clusters", &h, 1_699_999_879).unwrap_err();
        assert_eq!(
            early.message,
            "Invalid JWT token: Token used before issued (client and server clocks may differ)"
        );
        let late = authenticate(&auth(0), &Method::GET, "/clusters", &h, 1_700_000_365).unwrap_err();
        assert_eq!(late.message, "Invalid JWT token: Token is expired by 1m5s");
        let wrong_path = authenticate(&auth(0), &Method::GET, "/nodes", &h, 1_700_000_100).unwrap_err();
        assert_eq!(wrong_path.message, "Invalid qsh claim in token");
    }

    #[test]
    fn header_shapes() {
        let none = authenticate(&auth(0), &Method::GET, "/clusters", &HeaderMap::new(), 0).unwrap_err();
        assert_eq!(
            (none.status.as_u16(), none.message.as_str()),
            (401, "Required authorization token not found")
        );
        let mut h = HeaderMap::new();
        h.insert("authorization", HeaderValue::from_static("Basic a b"));
        let bad = authenticate(&auth(0), &Method::GET, "/clusters", &h, 0).unwrap_err();
        assert_eq!(bad.status.as_u16(), 400);
        let garbage = authenticate(&auth(0), &Method::GET, "/clusters", &bearer("abc"), 0).unwrap_err();
        assert_eq!(
            garbage.message,
            "Invalid JWT token: token contains an invalid number of segments"
        );
    }

    #[test]
    fn go_durations() {
        assert_eq!(go_duration(5), "5s");
        assert_eq!(go_duration(65), "1m5s");
        assert_eq!(go_duration(7205), "2h0m5s");
    }
}
