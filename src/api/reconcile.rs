//! `/internal/state/reconcile`: the reconciler's report of drift between
//! the store and the nodes (admin only; a GET, so allowed in every
//! administrative mode), and its mending run (a POST: 202, then a 303 to
//! the report). `?force=true` on either: the report says what a forced
//! run would do, and the run also removes orphan bricks that may hold data.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::db::indented;
use super::error::ApiError;
use super::AppState;
use crate::ops::reconcile::Force;

#[derive(Deserialize, Default)]
pub struct ReconcileQuery {
    #[serde(default)]
    force: Option<String>,
}

impl ReconcileQuery {
    fn force(&self) -> Result<Force, ApiError> {
        match self.force.as_deref() {
            None | Some("false" | "0") => Ok(Force::No),
            Some("true" | "1") => Ok(Force::OrphanBricks),
            Some(other) => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("force: {other:?} is neither true nor false"),
            )),
        }
    }
}

pub async fn report(State(app): State<AppState>, Query(query): Query<ReconcileQuery>) -> Result<Response, ApiError> {
    let report = crate::ops::reconcile::reconcile_report(&app.engine, query.force()?).await?;
    Ok(indented(&report))
}

pub async fn mend(State(app): State<AppState>, Query(query): Query<ReconcileQuery>) -> Result<Response, ApiError> {
    let queue_id = crate::ops::mend::mend_drift(&app.engine, query.force()?).await?;
    Ok(super::accepted(&queue_id))
}
