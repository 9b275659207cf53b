//! The CSI Node service: a volume is mounted once per node at its staging
//! path (GlusterFS over FUSE, with the backup volfile servers), then bound
//! into each pod's target path, read-only when asked; unmounts undo both.
//! Every call is idempotent, and a stale FUSE mount (its client gone) is
//! mounted again rather than reported as ready.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::Mutex as AsyncMutex;
use tonic::{Request, Response, Status};

use super::lookup::Lookup;
use super::mounter::{gluster_source, MountState, Mounter};
use super::proto::v1 as csi;
use super::request::check_capability;
use super::volume::VolumeFacts;

pub struct Node {
    pub node_id: String,
    pub mounter: Arc<dyn Mounter>,
    lookup: Lookup,
    /// Mounts run one at a time on a node: stage and publish of one volume
    /// must not interleave, and mounts are quick.
    serial: AsyncMutex<()>,
}

fn invalid(what: impl Into<String>) -> Status {
    Status::invalid_argument(what.into())
}

fn absolute(field: &str, path: &str) -> Result<PathBuf, Status> {
    if path.is_empty() {
        return Err(invalid(format!("{field} is required")));
    }
    let p = PathBuf::from(path);
    if !p.is_absolute() || p.components().any(|c| matches!(c, std::path::Component::ParentDir)) {
        return Err(invalid(format!("{field} {path:?} is not an absolute path")));
    }
    Ok(p)
}

fn internal(e: impl std::fmt::Display) -> Status {
    Status::internal(e.to_string())
}

fn mount_flags(cap: &csi::VolumeCapability) -> Vec<String> {
    match &cap.access_type {
        Some(csi::volume_capability::AccessType::Mount(m)) => m.mount_flags.clone(),
        _ => Vec::new(),
    }
}

impl Node {
    pub fn new(node_id: String, mounter: Arc<dyn Mounter>, lookup: Lookup) -> Node {
        Node {
            node_id,
            mounter,
            lookup,
            serial: AsyncMutex::new(()),
        }
    }

    /// Runs blocking mount work off the runtime.
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(Arc<dyn Mounter>) -> Result<T, Status> + Send + 'static,
    ) -> Result<T, Status> {
        let mounter = self.mounter.clone();
        tokio::task::spawn_blocking(move || work(mounter))
            .await
            .map_err(internal)?
    }

    async fn stage(&self, req: csi::NodeStageVolumeRequest) -> Result<csi::NodeStageVolumeResponse, Status> {
        if req.volume_id.is_empty() {
            return Err(invalid("volume_id is required"));
        }
        let staging = absolute("staging_target_path", &req.staging_target_path)?;
        let cap = req
            .volume_capability
            .as_ref()
            .ok_or_else(|| invalid("volume_capability is required"))?;
        check_capability(cap)?;
        let flags = mount_flags(cap);
        super::mounter::check_flags(&flags).map_err(|e| invalid(format!("mount_flags: {e}")))?;
        let facts = if VolumeFacts::names_a_volume(&req.volume_context) {
            VolumeFacts::from_context(&req.volume_context).map_err(|e| invalid(e.to_string()))?
        } else {
            self.lookup.facts(&req.volume_id, &req.secrets).await?
        };
        let _one = self.serial.lock().await;
        self.blocking(move |m| {
            let source = gluster_source(&facts);
            match m.state(&staging).map_err(internal)? {
                MountState::Mounted { source: there, .. } if there == source => return Ok(()),
                MountState::Mounted { source: there, .. } => {
                    return Err(Status::already_exists(format!(
                        "{} already holds {there}, not {source}",
                        staging.display()
                    )))
                }
                // The FUSE client is gone: mount it again.
                MountState::Stale { .. } => m.unmount(&staging).map_err(internal)?,
                MountState::NotMounted => {}
            }
            std::fs::create_dir_all(&staging).map_err(internal)?;
            m.mount_gluster(&facts, &staging, &flags)
                .map_err(|e| Status::internal(format!("mounting {source}: {e}")))
        })
        .await?;
        Ok(csi::NodeStageVolumeResponse {})
    }

    async fn unstage(&self, req: csi::NodeUnstageVolumeRequest) -> Result<csi::NodeUnstageVolumeResponse, Status> {
        if req.volume_id.is_empty() {
            return Err(invalid("volume_id is required"));
        }
        let staging = absolute("staging_target_path", &req.staging_target_path)?;
        let _one = self.serial.lock().await;
        self.blocking(move |m| unmount_all(m.as_ref(), &staging, false)).await?;
        Ok(csi::NodeUnstageVolumeResponse {})
    }

    async fn publish(&self, req: csi::NodePublishVolumeRequest) -> Result<csi::NodePublishVolumeResponse, Status> {
        if req.volume_id.is_empty() {
            return Err(invalid("volume_id is required"));
        }
        let target = absolute("target_path", &req.target_path)?;
        let cap = req
            .volume_capability
            .as_ref()
            .ok_or_else(|| invalid("volume_capability is required"))?;
        check_capability(cap)?;
        if req.staging_target_path.is_empty() {
            return Err(Status::failed_precondition(
                "staging_target_path is required: the volume is staged before it is published",
            ));
        }
        let staging = absolute("staging_target_path", &req.staging_target_path)?;
        let readonly = req.readonly;
        let _one = self.serial.lock().await;
        self.blocking(move |m| {
            let staged = staging.to_string_lossy().into_owned();
            match m.state(&staging).map_err(internal)? {
                MountState::Mounted { .. } => {}
                MountState::Stale { .. } => {
                    return Err(Status::failed_precondition(format!(
                        "the volume's mount at {staged} no longer answers; stage it again"
                    )))
                }
                MountState::NotMounted => {
                    return Err(Status::failed_precondition(format!(
                        "the volume is not staged at {staged}"
                    )))
                }
            }
            match m.state(&target).map_err(internal)? {
                MountState::Mounted { source, readonly: ro } if source == staged && ro == readonly => return Ok(()),
                MountState::Mounted { .. } => {
                    return Err(Status::already_exists(format!(
                        "{} is already published, differently",
                        target.display()
                    )))
                }
                MountState::Stale { .. } => m.unmount(&target).map_err(internal)?,
                MountState::NotMounted => {}
            }
            std::fs::create_dir_all(&target).map_err(internal)?;
            m.bind(&staging, &target, readonly).map_err(internal)
        })
        .await?;
        Ok(csi::NodePublishVolumeResponse {})
    }

    async fn unpublish(
        &self,
        req: csi::NodeUnpublishVolumeRequest,
    ) -> Result<csi::NodeUnpublishVolumeResponse, Status> {
        if req.volume_id.is_empty() {
            return Err(invalid("volume_id is required"));
        }
        let target = absolute("target_path", &req.target_path)?;
        let _one = self.serial.lock().await;
        self.blocking(move |m| unmount_all(m.as_ref(), &target, true)).await?;
        Ok(csi::NodeUnpublishVolumeResponse {})
    }

    async fn stats(&self, req: csi::NodeGetVolumeStatsRequest) -> Result<csi::NodeGetVolumeStatsResponse, Status> {
        if req.volume_id.is_empty() {
            return Err(invalid("volume_id is required"));
        }
        let path = absolute("volume_path", &req.volume_path)?;
        self.blocking(move |m| {
            let shown = path.display().to_string();
            match m.state(&path).map_err(internal)? {
                MountState::NotMounted => Err(Status::not_found(format!("no volume is mounted at {shown}"))),
                MountState::Stale { source } => Ok(csi::NodeGetVolumeStatsResponse {
                    usage: vec![],
                    volume_condition: Some(csi::VolumeCondition {
                        abnormal: true,
                        message: format!(
                            "the mount of {source} at {shown} no longer answers (its bricks or servers are gone)"
                        ),
                    }),
                }),
                MountState::Mounted { .. } => {
                    let u = m.usage(&path).map_err(internal)?;
                    Ok(csi::NodeGetVolumeStatsResponse {
                        usage: vec![
                            csi::VolumeUsage {
                                available: u.bytes_available as i64,
                                total: u.bytes_total as i64,
                                used: u.bytes_used as i64,
                                unit: csi::volume_usage::Unit::Bytes as i32,
                            },
                            csi::VolumeUsage {
                                available: u.inodes_free as i64,
                                total: u.inodes_total as i64,
                                used: u.inodes_total.saturating_sub(u.inodes_free) as i64,
                                unit: csi::volume_usage::Unit::Inodes as i32,
                            },
                        ],
                        volume_condition: Some(csi::VolumeCondition {
                            abnormal: false,
                            message: "mounted and answering".into(),
                        }),
                    })
                }
            }
        })
        .await
    }
}

/// Unmounts whatever is mounted at `path` (stale mounts too), then, for a
/// target path, removes the directory the driver created. Nothing there is
/// success; a mount that will not go is an error, never left silently.
fn unmount_all(m: &dyn Mounter, path: &Path, remove_dir: bool) -> Result<(), Status> {
    // Bounded: a path holds at most a few stacked mounts.
    for _ in 0..4 {
        match m.state(path).map_err(internal)? {
            MountState::NotMounted => break,
            MountState::Mounted { .. } | MountState::Stale { .. } => m
                .unmount(path)
                .map_err(|e| Status::internal(format!("unmounting {}: {e}", path.display())))?,
        }
    }
    if !matches!(m.state(path).map_err(internal)?, MountState::NotMounted) {
        return Err(Status::internal(format!("{} is still mounted", path.display())));
    }
    if remove_dir {
        match std::fs::remove_dir(path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Status::internal(format!("removing {}: {e}", path.display()))),
        }
    }
    Ok(())
}

fn node_capability(t: csi::node_service_capability::rpc::Type) -> csi::NodeServiceCapability {
    csi::NodeServiceCapability {
        r#type: Some(csi::node_service_capability::Type::Rpc(
            csi::node_service_capability::Rpc { r#type: t as i32 },
        )),
    }
}

#[tonic::async_trait]
impl csi::node_server::Node for Node {
    async fn node_stage_volume(
        &self,
        request: Request<csi::NodeStageVolumeRequest>,
    ) -> Result<Response<csi::NodeStageVolumeResponse>, Status> {
        self.stage(request.into_inner()).await.map(Response::new)
    }

    async fn node_unstage_volume(
        &self,
        request: Request<csi::NodeUnstageVolumeRequest>,
    ) -> Result<Response<csi::NodeUnstageVolumeResponse>, Status> {
        self.unstage(request.into_inner()).await.map(Response::new)
    }

    async fn node_publish_volume(
        &self,
        request: Request<csi::NodePublishVolumeRequest>,
    ) -> Result<Response<csi::NodePublishVolumeResponse>, Status> {
        self.publish(request.into_inner()).await.map(Response::new)
    }

    async fn node_unpublish_volume(
        &self,
        request: Request<csi::NodeUnpublishVolumeRequest>,
    ) -> Result<Response<csi::NodeUnpublishVolumeResponse>, Status> {
        self.unpublish(request.into_inner()).await.map(Response::new)
    }

    async fn node_get_volume_stats(
        &self,
        request: Request<csi::NodeGetVolumeStatsRequest>,
    ) -> Result<Response<csi::NodeGetVolumeStatsResponse>, Status> {
        self.stats(request.into_inner()).await.map(Response::new)
    }

    async fn node_expand_volume(
        &self,
        _request: Request<csi::NodeExpandVolumeRequest>,
    ) -> Result<Response<csi::NodeExpandVolumeResponse>, Status> {
        Err(Status::unimplemented(
            "a GlusterFS volume grows on its servers; nothing to do on the node",
        ))
    }

    async fn node_get_capabilities(
        &self,
        _request: Request<csi::NodeGetCapabilitiesRequest>,
    ) -> Result<Response<csi::NodeGetCapabilitiesResponse>, Status> {
        use csi::node_service_capability::rpc::Type;
        Ok(Response::new(csi::NodeGetCapabilitiesResponse {
            capabilities: [Type::StageUnstageVolume, Type::GetVolumeStats, Type::VolumeCondition]
                .into_iter()
                .map(node_capability)
                .collect(),
        }))
    }

    async fn node_get_info(
        &self,
        _request: Request<csi::NodeGetInfoRequest>,
    ) -> Result<Response<csi::NodeGetInfoResponse>, Status> {
        Ok(Response::new(csi::NodeGetInfoResponse {
            node_id: self.node_id.clone(),
            max_volumes_per_node: 0,
            accessible_topology: None,
        }))
    }
}
