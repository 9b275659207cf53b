//! The HTTP layer: Heketi's routes, authentication, the administrative
//! mode filter, and exact response shapes. Handlers are thin: decode,
//! validate, call `ops`, render.

pub mod admin;
pub mod auth;
pub mod block_volumes;
pub mod body;
pub mod clusters;
pub mod db;
pub mod devices;
pub mod error;
pub mod examine;
pub mod logging;
pub mod metrics;
pub mod mock;
pub mod nodes;
pub mod operations;
pub mod queue;
pub mod reconcile;
pub mod strict_json;
pub mod volumes;

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Serialize;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;

use crate::config::{AdminMode, AuthConfig};
use crate::ids::is_route_id;
use crate::logging::LogControl;
use crate::ops::Engine;
use crate::store::records::{DeviceRecord, NodeRecord};
use error::ApiError;

/// Everything handlers share.
pub struct App {
    pub engine: Arc<Engine>,
    pub auth: AuthConfig,
    admin_mode: AtomicU8,
    pub log: LogControl,
    /// `db_read_only`: every change is refused with a 500.
    pub read_only_store: bool,
    /// Request bodies past this many bytes are refused with `413`.
    pub max_body_bytes: usize,
}

/// The body limit, as the body extractors see it (for their message).
#[derive(Clone, Copy, Debug)]
pub struct BodyLimit(pub usize);

pub type AppState = Arc<App>;

impl App {
    pub fn new(engine: Arc<Engine>, auth: AuthConfig, mode: AdminMode, log: LogControl) -> AppState {
        Arc::new(App {
            engine,
            auth,
            admin_mode: AtomicU8::new(mode_code(mode)),
            log,
            read_only_store: false,
            max_body_bytes: crate::config::HttpLimits::default().max_body_bytes,
        })
    }

    /// Sets `db_read_only` and the request body limit.
    pub fn with_server_settings(self: Arc<Self>, read_only: bool, max_body_bytes: usize) -> AppState {
        match Arc::try_unwrap(self) {
            Ok(mut app) => {
                app.read_only_store = read_only;
                app.max_body_bytes = max_body_bytes;
                Arc::new(app)
            }
            Err(shared) => shared,
        }
    }

    pub fn admin_mode(&self) -> AdminMode {
        match self.admin_mode.load(Ordering::Acquire) {
            1 => AdminMode::ReadOnly,
            2 => AdminMode::LocalClient,
            _ => AdminMode::Normal,
        }
    }

    pub fn set_admin_mode(&self, mode: AdminMode) {
        self.admin_mode.store(mode_code(mode), Ordering::Release);
    }
}

fn mode_code(mode: AdminMode) -> u8 {
    match mode {
        AdminMode::Normal => 0,
        AdminMode::ReadOnly => 1,
        AdminMode::LocalClient => 2,
    }
}

/// A JSON body the way Go's encoder writes it: compact, then a newline.
pub fn json<T: Serialize>(status: StatusCode, value: &T) -> Response {
    json_bytes(status, serde_json::to_vec(value).unwrap_or_default())
}

/// A JSON answer whose body is already serialised.
pub fn json_bytes(status: StatusCode, mut body: Vec<u8>) -> Response {
    body.push(b'\n');
    json_body(status, body.into())
}

/// A JSON response of `body` as it is, its newline included.
pub fn json_body(status: StatusCode, body: bytes::Bytes) -> Response {
    let mut resp = (status, body).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=UTF-8"),
    );
    resp
}

/// `202 Accepted` pointing at the queue entry.
pub fn accepted(queue_id: &str) -> Response {
    let mut resp = StatusCode::ACCEPTED.into_response();
    if let Ok(location) = HeaderValue::from_str(&format!("/queue/{queue_id}")) {
        resp.headers_mut().insert(header::LOCATION, location);
    }
    resp
}

/// A path id that matches Heketi's route pattern `[A-Fa-f0-9]+`; anything
/// else is `404 Invalid path or request`, before the body is looked at.
pub struct HexId(pub String);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for HexId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Path(id) = axum::extract::Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::invalid_path())?;
        if is_route_id(&id) {
            Ok(HexId(id))
        } else {
            Err(ApiError::invalid_path())
        }
    }
}

/// Auth, issuer check and admin mode, in Heketi's order. `/hello` and
/// `/metrics` bypass all of it. Then a body announced larger than the limit
/// is refused before any of it is read.
async fn gatekeeper(State(app): State<AppState>, mut req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    if req.method() == Method::GET && (path == "/hello" || path == "/metrics") {
        return next.run(req).await;
    }
    if app.auth.enabled {
        if let Err(e) = auth::authenticate(
            &app.auth,
            req.method(),
            &path,
            req.headers(),
            crate::clock::now_secs() as i64,
        ) {
            return e.into_response();
        }
    }
    let writes = !matches!(*req.method(), Method::GET | Method::HEAD);
    let refused = match app.admin_mode() {
        AdminMode::Normal => false,
        AdminMode::ReadOnly => writes,
        AdminMode::LocalClient => {
            let peer = req
                .extensions()
                .get::<ConnectInfo<crate::serve::Peer>>()
                .map(|ci| ci.0 .0.ip());
            writes && !peer.is_some_and(is_local_client)
        }
    };
    if refused {
        return ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "Service disabled for maintenance").into_response();
    }
    let changes_store = writes || (path.starts_with("/devices/") && path.ends_with("/resync"));
    if app.read_only_store && changes_store {
        return ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Unable to change the database: it is open read-only (db_read_only)",
        )
        .into_response();
    }
    let announced = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|n| n > app.max_body_bytes as u64) {
        return ApiError::body_too_large(app.max_body_bytes).into_response();
    }
    req.extensions_mut().insert(BodyLimit(app.max_body_bytes));
    next.run(req).await
}

/// Heketi registers its routes for their methods only, so `HEAD` on a GET
/// route is `405` there too; axum would answer it from the GET handler.
async fn no_head(req: Request, next: Next) -> Response {
    if req.method() == Method::HEAD {
        return StatusCode::METHOD_NOT_ALLOWED.into_response();
    }
    next.run(req).await
}

/// Heketi's local-client rule: exactly 127.0.0.1 or ::1.
pub fn is_local_client(ip: std::net::IpAddr) -> bool {
    let ip = ip.to_canonical();
    ip == std::net::Ipv4Addr::LOCALHOST || ip == std::net::Ipv6Addr::LOCALHOST
}

const KNOWN_ROOTS: [&str; 12] = [
    "clusters",
    "nodes",
    "devices",
    "volumes",
    "blockvolumes",
    "queue",
    "bricks",
    "backup",
    "db",
    "internal",
    "operations",
    "admin",
];

/// No route matched: redirect a trailing slash, else Heketi's 404.
async fn fallback(req: Request) -> Response {
    let path = req.uri().path();
    if path.len() > 1 && path.ends_with('/') {
        let trimmed = path.trim_end_matches('/');
        let root = trimmed.trim_start_matches('/').split('/').next().unwrap_or("");
        if KNOWN_ROOTS.contains(&root) {
            if let Ok(location) = HeaderValue::from_str(trimmed) {
                let mut resp = StatusCode::MOVED_PERMANENTLY.into_response();
                resp.headers_mut().insert(header::LOCATION, location);
                return resp;
            }
        }
    }
    ApiError::invalid_path().into_response()
}

async fn hello() -> Response {
    let mut resp = (StatusCode::OK, "Hello from Heketi").into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=UTF-8"),
    );
    resp
}

pub fn router(app: AppState) -> Router {
    let trace = TraceLayer::new_for_http()
        .make_span_with(
            |req: &Request| tracing::info_span!("request", method = %req.method(), path = %req.uri().path()),
        )
        .on_response(|resp: &Response, latency: Duration, _span: &tracing::Span| {
            crate::memory::note_request();
            tracing::info!(
                status = resp.status().as_u16(),
                latency_us = latency.as_micros() as u64,
                "served"
            );
        })
        // Error statuses are answers, not server faults; on_response logs them.
        .on_failure(());
    Router::new()
        .route("/hello", get(hello))
        .route("/metrics", get(metrics::metrics))
        .route("/queue/{id}", get(queue::poll))
        .route("/clusters", post(clusters::create).get(clusters::list))
        .route("/clusters/{id}", get(clusters::info).delete(clusters::delete))
        .route("/clusters/{id}/flags", post(clusters::set_flags))
        .route("/nodes", post(nodes::add))
        .route("/nodes/{id}", get(nodes::info).delete(nodes::delete))
        .route("/nodes/{id}/state", post(nodes::set_state))
        .route("/nodes/{id}/tags", post(nodes::set_tags::<NodeRecord>))
        .route("/devices", post(devices::add))
        .route("/devices/{id}", get(devices::info).delete(devices::delete))
        .route("/devices/{id}/state", post(devices::set_state))
        .route("/devices/{id}/tags", post(nodes::set_tags::<DeviceRecord>))
        .route("/devices/{id}/resync", get(devices::resync))
        .route("/volumes", post(volumes::create).get(volumes::list))
        .route("/volumes/{id}", get(volumes::info).delete(volumes::delete))
        .route("/volumes/{id}/expand", post(volumes::expand))
        .route("/volumes/{id}/clone", post(volumes::clone))
        .route("/volumes/{id}/block-restriction", post(volumes::block_restriction))
        .route("/blockvolumes", get(block_volumes::list).post(block_volumes::create))
        .route(
            "/blockvolumes/{id}",
            get(block_volumes::info).delete(block_volumes::delete),
        )
        .route("/blockvolumes/{id}/expand", post(block_volumes::expand))
        .route("/bricks/to-evict/{id}", post(volumes::evict_brick))
        .route("/db/check", get(db::check))
        .route("/db/dump", get(db::dump))
        .route("/backup/db", get(db::backup))
        .route("/admin", get(admin::get_mode).post(admin::set_mode))
        .route("/internal/logging", get(logging::get_level).post(logging::set_level))
        .route("/internal/state/examine/gluster", get(examine::gluster))
        .route(
            "/internal/state/reconcile",
            get(reconcile::report).post(reconcile::mend),
        )
        .route("/internal/mock/state", get(mock::state))
        .route("/operations", get(operations::summary))
        .route("/operations/pending", get(operations::list))
        .route("/operations/pending/{id}", get(operations::details))
        .route("/operations/pending/cleanup", post(operations::cleanup))
        .route_layer(middleware::from_fn(no_head))
        .fallback(fallback)
        .layer(middleware::from_fn_with_state(app.clone(), gatekeeper))
        // Heketi read bodies without a limit; a body streamed past this one
        // stops being read there (bodies announced larger never start).
        .layer(DefaultBodyLimit::max(app.max_body_bytes))
        .layer(CatchPanicLayer::custom(|_: Box<dyn std::any::Any + Send>| {
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }))
        .layer(trace)
        .with_state(app)
}
