//! `/internal/state/examine/gluster`: Heketi's examiner report (admin only;
//! a GET, so allowed in every administrative mode).

use axum::extract::State;
use axum::response::Response;

use super::db::indented;
use super::error::ApiError;
use super::AppState;

pub async fn gluster(State(app): State<AppState>) -> Result<Response, ApiError> {
    let examination = crate::ops::examine::examine_gluster(&app.engine).await?;
    Ok(indented(&examination))
}
