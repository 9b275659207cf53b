//! `/internal/state/reconcile`: the reconciler's report of drift between
//! the store and the nodes (admin only; a GET, so allowed in every
//! administrative mode), and its mending run (a POST: 202, then a 303 to
//! the report).

use axum::extract::State;
use axum::response::Response;

use super::db::indented;
use super::error::ApiError;
use super::AppState;

pub async fn report(State(app): State<AppState>) -> Result<Response, ApiError> {
    let report = crate::ops::reconcile::reconcile_report(&app.engine).await?;
    Ok(indented(&report))
}

pub async fn mend(State(app): State<AppState>) -> Result<Response, ApiError> {
    let queue_id = crate::ops::mend::mend_drift(&app.engine).await?;
    Ok(super::accepted(&queue_id))
}
