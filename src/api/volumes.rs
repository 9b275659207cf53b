//! `/volumes`

use std::sync::LazyLock;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use regex::Regex;

use super::body::{JsonBody, OptionalJsonBody};
use super::error::ApiError;
use super::{accepted, json, json_body, AppState, HexId};
use crate::ops::volumes::{DurabilityRequest, VolumeCreate};
use crate::store::records::SnapshotRecord;
use crate::wire::validate::{limits, Violations, BLANK};
use crate::wire::volumes::{
    volume_info, BlockRestrictionRequest, VolumeCloneRequest, VolumeCreateRequest, VolumeExpandRequest,
};
use crate::wire::{BrickEvictRequest, BrickInfo};

static VOLUME_NAME: LazyLock<Regex> = LazyLock::new(|| Regex::new("^[a-zA-Z0-9_-]+$").expect("static pattern"));

pub(super) fn check_size(v: &mut Violations, field: &str, size: i64) {
    if size == 0 {
        v.add(field, BLANK);
    } else if size < 1 {
        v.add(field, "must be no less than 1");
    }
}

pub(super) fn check_name(v: &mut Violations, name: &str) {
    if name.len() > limits::VOLUME_NAME {
        v.add(
            "name",
            format!("the length must be no more than {}", limits::VOLUME_NAME),
        );
    } else if !name.is_empty() && !VOLUME_NAME.is_match(name) {
        v.add("name", "must be in a valid format");
    }
}

/// Limits Heketi did not have: a client cannot make the server store and
/// echo megabytes in a name or an option.
fn check_create_lists(v: &mut Violations, req: &VolumeCreateRequest) {
    let options = &req.glustervolumeoptions;
    if options.len() > limits::VOLUME_OPTIONS || options.iter().any(|o| o.len() > limits::VOLUME_OPTION) {
        v.add(
            "glustervolumeoptions",
            format!(
                "at most {} options of at most {} characters each",
                limits::VOLUME_OPTIONS,
                limits::VOLUME_OPTION
            ),
        );
    }
    if req.clusters.iter().any(|c| c.len() > limits::ID) {
        v.add(
            "clusters",
            format!("each cluster id must be no more than {} characters", limits::ID),
        );
    }
}

pub async fn create(
    State(app): State<AppState>,
    JsonBody(req): JsonBody<VolumeCreateRequest>,
) -> Result<Response, ApiError> {
    let mut v = Violations::default();
    check_size(&mut v, "size", req.size);
    check_name(&mut v, &req.name);
    check_create_lists(&mut v, &req);
    v.into_result().map_err(ApiError::validation)?;
    let queue_id = crate::ops::volumes::create_volume(
        &app.engine,
        VolumeCreate {
            size: req.size,
            name: req.name,
            clusters: req.clusters,
            durability: DurabilityRequest {
                kind: req.durability.kind.clone(),
                replica: req.durability.replicate.replica,
                data: req.durability.disperse.data,
                redundancy: req.durability.disperse.redundancy,
            },
            gid: req.gid,
            options: req.glustervolumeoptions,
            block: req.block,
            snapshot: SnapshotRecord {
                enable: req.snapshot.enable,
                factor: req.snapshot.factor,
            },
        },
    )
    .await?;
    Ok(accepted(&queue_id))
}

pub async fn list(State(app): State<AppState>) -> Result<Response, ApiError> {
    let body = crate::ops::volumes::volume_list(&app.engine)?;
    Ok(json_body(StatusCode::OK, body))
}

pub async fn info(State(app): State<AppState>, HexId(id): HexId) -> Result<Response, ApiError> {
    let view = crate::ops::volumes::volume_info(&app.engine, &id)?;
    let bricks = view.bricks.into_iter().map(BrickInfo::from).collect();
    Ok(json(StatusCode::OK, &volume_info(&view.record, bricks, view.hosts)))
}

pub async fn delete(State(app): State<AppState>, HexId(id): HexId) -> Result<Response, ApiError> {
    let queue_id = crate::ops::volumes::delete_volume(&app.engine, &id).await?;
    Ok(accepted(&queue_id))
}

pub async fn expand(
    State(app): State<AppState>,
    HexId(id): HexId,
    JsonBody(req): JsonBody<VolumeExpandRequest>,
) -> Result<Response, ApiError> {
    let mut v = Violations::default();
    check_size(&mut v, "expand_size", req.expand_size);
    v.into_result().map_err(ApiError::validation)?;
    let queue_id = crate::ops::volumes::expand_volume(&app.engine, &id, req.expand_size as u64).await?;
    Ok(accepted(&queue_id))
}

pub async fn clone(
    State(app): State<AppState>,
    HexId(id): HexId,
    JsonBody(req): JsonBody<VolumeCloneRequest>,
) -> Result<Response, ApiError> {
    let mut v = Violations::default();
    check_name(&mut v, &req.name);
    v.into_result().map_err(ApiError::validation)?;
    let queue_id = crate::ops::volumes::clone_volume(&app.engine, &id, &req.name).await?;
    Ok(accepted(&queue_id))
}

pub async fn block_restriction(
    State(app): State<AppState>,
    HexId(id): HexId,
    JsonBody(req): JsonBody<BlockRestrictionRequest>,
) -> Result<Response, ApiError> {
    if !matches!(req.restriction.as_str(), "" | "locked") {
        let mut v = Violations::default();
        v.add("restriction", "must be a valid value");
        return Err(ApiError::validation(v));
    }
    let queue_id = crate::ops::volumes::set_block_restriction(&app.engine, &id, &req.restriction).await?;
    Ok(accepted(&queue_id))
}

/// `POST /bricks/to-evict/{id}`: replaces one brick on another device.
/// The body is read only when there is one, as Heketi does.
pub async fn evict_brick(
    State(app): State<AppState>,
    HexId(id): HexId,
    OptionalJsonBody(req): OptionalJsonBody<BrickEvictRequest>,
) -> Result<Response, ApiError> {
    req.validate().map_err(ApiError::validation)?;
    let queue_id = crate::ops::evict::evict_brick(&app.engine, &id, req.healcheck != "disable").await?;
    Ok(accepted(&queue_id))
}
