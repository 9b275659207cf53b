//! `/internal/state/reconcile`: the reconciler's report of drift between
//! the store and the nodes (admin only; a GET, so allowed in every
//! administrative mode).

use axum::extract::State;
use axum::response::Response;

use super::db::indented;
use super::error::ApiError;
use super::AppState;

pub async fn report(State(app): State<AppState>) -> Result<Response, ApiError> {
    let report = crate::ops::reconcile::reconcile_report(&app.engine).await?;
    Ok(indented(&report))
}
