//! The CSI Controller service: volumes made, cloned, grown, listed and
//! deleted through the REST API, as the in-tree provisioner did, with the
//! idempotency the CSI specification asks for (one volume per CSI name,
//! also when two calls race).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use reqwest::{Method, StatusCode};
use tokio::sync::Mutex as AsyncMutex;
use tonic::{Request, Response, Status};

use super::params::{Params, VolumeType};
use super::proto::v1 as csi;
use super::request::{
    check_capabilities, check_capability, durability, fits, no_such_volume, size_gib, volume_id, volume_name, GIB,
};
use super::rest::{self, Clients, Meaning, RestDefaults, Target};
use super::volume::VolumeFacts;
use crate::client::Client;
use crate::wire::volumes::{
    Snapshot, VolumeCloneRequest, VolumeCreateRequest, VolumeExpandRequest, VolumeInfoResponse, VolumeListResponse,
};
use crate::wire::{ClusterInfoResponse, ClusterListResponse, NodeInfoResponse};

/// What the controller knows of one server's volumes: names to ids and the
/// GIDs in use, read in full once and kept current by its own changes.
#[derive(Default)]
struct Known {
    loaded: bool,
    by_name: HashMap<String, String>,
    gids: BTreeSet<i64>,
}

pub struct Controller {
    clients: Clients,
    defaults: RestDefaults,
    /// One lock per server: creates and deletes on it run one at a time,
    /// so a CSI name maps to one volume and a GID to one volume.
    known: std::sync::Mutex<HashMap<String, Arc<AsyncMutex<Known>>>>,
}

use super::request::invalid;

impl Controller {
    pub fn new(defaults: RestDefaults) -> Controller {
        Controller {
            clients: Clients::default(),
            defaults,
            known: std::sync::Mutex::new(HashMap::new()),
        }
    }

    /// The server and credentials: the StorageClass's `resturl`, its user
    /// and key from the CSI secrets (`key`, `user`), `restuserkey`, or the
    /// driver's own settings.
    fn target(&self, params: &Params, secrets: &HashMap<String, String>) -> Result<Target, Status> {
        let url = params
            .rest_url
            .clone()
            .or_else(|| self.defaults.url.clone())
            .ok_or_else(|| invalid("resturl: no REST URL in the StorageClass or the driver's settings"))?;
        let (user, key) = if params.rest_auth {
            let user = secrets
                .get("user")
                .cloned()
                .or_else(|| params.rest_user.clone())
                .unwrap_or_else(|| self.defaults.user.clone());
            let key = secrets
                .get("key")
                .cloned()
                .or_else(|| params.rest_key.clone())
                .unwrap_or_else(|| self.defaults.key.clone());
            (user, key)
        } else {
            (String::new(), String::new())
        };
        Ok(Target { url, user, key })
    }

    async fn client(&self, target: &Target) -> Result<Arc<Client>, Status> {
        self.clients.get(target).await
    }

    fn known(&self, url: &str) -> Arc<AsyncMutex<Known>> {
        let mut all = self.known.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        all.entry(url.to_string()).or_default().clone()
    }

    /// Reads every volume once, for names and GIDs.
    async fn load(client: &Arc<Client>, known: &mut Known) -> Result<(), Status> {
        if known.loaded {
            return Ok(());
        }
        let list: VolumeListResponse = rest::get(client, "/volumes".into())
            .await
            .map_err(|e| rest::status("listing volumes", &e))?;
        for id in list.volumes {
            match rest::get::<VolumeInfoResponse>(client, format!("/volumes/{id}")).await {
                Ok(v) => {
                    known.gids.insert(v.gid);
                    known.by_name.insert(v.name, v.id);
                }
                // Deleted meanwhile.
                Err(e) if rest::meaning(&e) == Meaning::NotFound => {}
                Err(e) => return Err(rest::status("reading volumes", &e)),
            }
        }
        known.loaded = true;
        Ok(())
    }

    /// The volume of that name, if it (still) exists.
    async fn find(client: &Arc<Client>, known: &mut Known, name: &str) -> Result<Option<VolumeInfoResponse>, Status> {
        let Some(id) = known.by_name.get(name).cloned() else {
            return Ok(None);
        };
        match rest::get::<VolumeInfoResponse>(client, format!("/volumes/{id}")).await {
            Ok(v) if v.name == name => Ok(Some(v)),
            Ok(_) => Ok(None),
            Err(e) if rest::meaning(&e) == Meaning::NotFound => {
                known.by_name.remove(name);
                Ok(None)
            }
            Err(e) => Err(rest::status(&format!("reading volume {id}"), &e)),
        }
    }

    fn response(v: &VolumeInfoResponse, source: Option<csi::VolumeContentSource>) -> csi::CreateVolumeResponse {
        csi::CreateVolumeResponse {
            volume: Some(csi::Volume {
                capacity_bytes: v.size as i64 * GIB,
                volume_id: v.id.clone(),
                volume_context: VolumeFacts::of(v).context(),
                content_source: source,
                accessible_topology: vec![],
            }),
        }
    }

    async fn create(&self, req: csi::CreateVolumeRequest) -> Result<csi::CreateVolumeResponse, Status> {
        if req.name.is_empty() {
            return Err(invalid("name is required"));
        }
        check_capabilities(&req.volume_capabilities)?;
        let params = Params::parse(&req.parameters).map_err(|e| invalid(format!("parameters: {e}")))?;
        let range = req.capacity_range.as_ref();
        let size = size_gib(range)?;
        let name = volume_name(&params, &req.name)?;
        let source_id = match req.volume_content_source.as_ref().and_then(|s| s.r#type.as_ref()) {
            None => None,
            Some(csi::volume_content_source::Type::Volume(v)) => {
                match volume_id("volume_content_source: volume_id", &v.volume_id)? {
                    Some(id) => Some(id.to_string()),
                    None => return Err(no_such_volume(&v.volume_id)),
                }
            }
            Some(csi::volume_content_source::Type::Snapshot(_)) => {
                return Err(invalid(
                    "volume_content_source: snapshots are not supported; clone from a volume",
                ))
            }
        };
        let target = self.target(&params, &req.secrets)?;
        let client = self.client(&target).await?;
        let known = self.known(&target.url);
        let mut known = known.lock().await;
        Self::load(&client, &mut known).await?;
        if let Some(existing) = Self::find(&client, &mut known, &name).await? {
            if !fits(existing.size as i64 * GIB, range) {
                return Err(Status::already_exists(format!(
                    "volume {name} exists with {} GiB, which does not fit the requested capacity",
                    existing.size
                )));
            }
            return Ok(Self::response(&existing, req.volume_content_source));
        }
        let made = match source_id {
            Some(source) => self.clone_from(&client, &source, &name, size, range).await?,
            None => {
                let gid = (params.gid_min..=params.gid_max)
                    .find(|g| !known.gids.contains(g))
                    .ok_or_else(|| {
                        Status::resource_exhausted(format!(
                            "no GID left between gidMin {} and gidMax {}",
                            params.gid_min, params.gid_max
                        ))
                    })?;
                let body = VolumeCreateRequest {
                    size,
                    name: name.clone(),
                    clusters: params.clusters.clone(),
                    durability: durability(params.volume_type),
                    gid,
                    glustervolumeoptions: params.volume_options.clone(),
                    block: false,
                    snapshot: Snapshot {
                        enable: true,
                        factor: params.snap_factor,
                    },
                };
                rest::call_json(&client, Method::POST, "/volumes".into(), Some(body), StatusCode::OK)
                    .await
                    .map_err(|e| rest::status(&format!("creating volume {name}"), &e))?
            }
        };
        known.gids.insert(made.gid);
        known.by_name.insert(made.name.clone(), made.id.clone());
        Ok(Self::response(&made, req.volume_content_source))
    }

    /// A clone of `source` named `name`, grown to `size` GiB if asked. A
    /// clone is at least its source's size, which the range must allow.
    async fn clone_from(
        &self,
        client: &Arc<Client>,
        source: &str,
        name: &str,
        size: i64,
        range: Option<&csi::CapacityRange>,
    ) -> Result<VolumeInfoResponse, Status> {
        let origin: VolumeInfoResponse = match rest::get(client, format!("/volumes/{source}")).await {
            Ok(v) => v,
            Err(e) if rest::meaning(&e) == Meaning::NotFound => return Err(no_such_volume(source)),
            Err(e) => return Err(rest::status(&format!("reading volume {source}"), &e)),
        };
        let limit = range.map_or(0, |r| r.limit_bytes);
        if limit > 0 && origin.size as i64 * GIB > limit {
            return Err(Status::out_of_range(format!(
                "capacity_range: a clone of volume {source} has its {} GiB, more than limit_bytes {limit}",
                origin.size
            )));
        }
        let body = VolumeCloneRequest { name: name.to_string() };
        let made: VolumeInfoResponse = rest::call_json(
            client,
            Method::POST,
            format!("/volumes/{source}/clone"),
            Some(body),
            StatusCode::OK,
        )
        .await
        .map_err(|e| rest::status(&format!("cloning volume {source}"), &e))?;
        if (made.size as i64) < size {
            return self.expand_to(client, &made.id, made.size as i64, size).await;
        }
        Ok(made)
    }

    async fn expand_to(
        &self,
        client: &Arc<Client>,
        id: &str,
        current: i64,
        size: i64,
    ) -> Result<VolumeInfoResponse, Status> {
        let body = VolumeExpandRequest {
            expand_size: size - current,
        };
        rest::call_json(
            client,
            Method::POST,
            format!("/volumes/{id}/expand"),
            Some(body),
            StatusCode::OK,
        )
        .await
        .map_err(|e| rest::status(&format!("expanding volume {id}"), &e))
    }

    async fn delete(&self, req: csi::DeleteVolumeRequest) -> Result<csi::DeleteVolumeResponse, Status> {
        if volume_id("volume_id", &req.volume_id)?.is_none() {
            // No volume has that id: gone already, as the caller wants.
            return Ok(csi::DeleteVolumeResponse {});
        }
        let target = self.target(&Params::parse(&HashMap::new()).map_err(|e| invalid(e.0))?, &req.secrets)?;
        let client = self.client(&target).await?;
        let known = self.known(&target.url);
        let mut known = known.lock().await;
        let id = req.volume_id;
        let info = match rest::get::<VolumeInfoResponse>(&client, format!("/volumes/{id}")).await {
            Ok(v) => v,
            // Gone already: what the caller wants.
            Err(e) if rest::meaning(&e) == Meaning::NotFound => return Ok(csi::DeleteVolumeResponse {}),
            Err(e) => return Err(rest::status(&format!("reading volume {id}"), &e)),
        };
        match rest::call(
            &client,
            Method::DELETE,
            format!("/volumes/{id}"),
            None,
            StatusCode::NO_CONTENT,
        )
        .await
        {
            Ok(()) => {}
            Err(e) if rest::meaning(&e) == Meaning::NotFound => {}
            Err(e) => return Err(rest::status(&format!("deleting volume {id}"), &e)),
        }
        known.by_name.remove(&info.name);
        known.gids.remove(&info.gid);
        Ok(csi::DeleteVolumeResponse {})
    }

    async fn expand(
        &self,
        req: csi::ControllerExpandVolumeRequest,
    ) -> Result<csi::ControllerExpandVolumeResponse, Status> {
        if volume_id("volume_id", &req.volume_id)?.is_none() {
            return Err(no_such_volume(&req.volume_id));
        }
        let Some(range) = req.capacity_range.as_ref() else {
            return Err(invalid("capacity_range is required"));
        };
        if let Some(cap) = &req.volume_capability {
            check_capability(cap)?;
        }
        let size = size_gib(Some(range))?;
        let target = self.target(&Params::parse(&HashMap::new()).map_err(|e| invalid(e.0))?, &req.secrets)?;
        let client = self.client(&target).await?;
        let id = req.volume_id;
        let info: VolumeInfoResponse = rest::get(&client, format!("/volumes/{id}"))
            .await
            .map_err(|e| rest::status(&format!("reading volume {id}"), &e))?;
        let current = info.size as i64;
        let grown = if current >= size {
            info
        } else {
            self.expand_to(&client, &id, current, size).await?
        };
        Ok(csi::ControllerExpandVolumeResponse {
            capacity_bytes: grown.size as i64 * GIB,
            // A GlusterFS volume grows under its mounts.
            node_expansion_required: false,
        })
    }

    async fn validate(
        &self,
        req: csi::ValidateVolumeCapabilitiesRequest,
    ) -> Result<csi::ValidateVolumeCapabilitiesResponse, Status> {
        if volume_id("volume_id", &req.volume_id)?.is_none() {
            return Err(no_such_volume(&req.volume_id));
        }
        if req.volume_capabilities.is_empty() {
            return Err(invalid("volume_capabilities are required"));
        }
        let params = Params::parse(&req.parameters).map_err(|e| invalid(format!("parameters: {e}")))?;
        let target = self.target(&params, &req.secrets)?;
        let client = self.client(&target).await?;
        let id = &req.volume_id;
        let info: VolumeInfoResponse = rest::get(&client, format!("/volumes/{id}"))
            .await
            .map_err(|e| rest::status(&format!("reading volume {id}"), &e))?;
        let unsupported = req.volume_capabilities.iter().find_map(|c| check_capability(c).err());
        Ok(match unsupported {
            Some(why) => csi::ValidateVolumeCapabilitiesResponse {
                confirmed: None,
                message: why.message().to_string(),
            },
            None => csi::ValidateVolumeCapabilitiesResponse {
                confirmed: Some(csi::validate_volume_capabilities_response::Confirmed {
                    volume_context: VolumeFacts::of(&info).context(),
                    volume_capabilities: req.volume_capabilities,
                    parameters: req.parameters,
                    mutable_parameters: HashMap::new(),
                }),
                message: String::new(),
            },
        })
    }

    async fn list(&self, req: csi::ListVolumesRequest) -> Result<csi::ListVolumesResponse, Status> {
        if req.max_entries < 0 {
            return Err(invalid("max_entries must not be negative"));
        }
        let target = self.target(
            &Params::parse(&HashMap::new()).map_err(|e| invalid(e.0))?,
            &HashMap::new(),
        )?;
        let client = self.client(&target).await?;
        let mut ids = rest::get::<VolumeListResponse>(&client, "/volumes".into())
            .await
            .map_err(|e| rest::status("listing volumes", &e))?
            .volumes;
        ids.sort();
        // The token is the last id of the previous page; the page goes on
        // after it even if that volume was deleted meanwhile.
        let start = if req.starting_token.is_empty() {
            0
        } else if req.starting_token.len() == 32 && req.starting_token.chars().all(|c| c.is_ascii_hexdigit()) {
            ids.partition_point(|id| id.as_str() <= req.starting_token.as_str())
        } else {
            return Err(Status::aborted(format!(
                "starting_token {:?} was not given by this driver",
                req.starting_token
            )));
        };
        let take = if req.max_entries == 0 {
            usize::MAX
        } else {
            req.max_entries as usize
        };
        let page: Vec<String> = ids[start..].iter().take(take).cloned().collect();
        let mut entries = Vec::with_capacity(page.len());
        for id in &page {
            match rest::get::<VolumeInfoResponse>(&client, format!("/volumes/{id}")).await {
                Ok(v) => entries.push(csi::list_volumes_response::Entry {
                    volume: Some(csi::Volume {
                        capacity_bytes: v.size as i64 * GIB,
                        volume_id: v.id.clone(),
                        volume_context: VolumeFacts::of(&v).context(),
                        content_source: None,
                        accessible_topology: vec![],
                    }),
                    status: None,
                }),
                Err(e) if rest::meaning(&e) == Meaning::NotFound => {}
                Err(e) => return Err(rest::status(&format!("reading volume {id}"), &e)),
            }
        }
        let next_token = match page.last() {
            Some(last) if start + page.len() < ids.len() => last.clone(),
            _ => String::new(),
        };
        Ok(csi::ListVolumesResponse { entries, next_token })
    }

    async fn capacity(&self, req: csi::GetCapacityRequest) -> Result<csi::GetCapacityResponse, Status> {
        for cap in &req.volume_capabilities {
            check_capability(cap)?;
        }
        let params = Params::parse(&req.parameters).map_err(|e| invalid(format!("parameters: {e}")))?;
        let target = self.target(&params, &HashMap::new())?;
        let client = self.client(&target).await?;
        let clusters: ClusterListResponse = rest::get(&client, "/clusters".into())
            .await
            .map_err(|e| rest::status("listing clusters", &e))?;
        let mut free_kib: u64 = 0;
        for cluster in clusters
            .clusters
            .iter()
            .filter(|c| params.clusters.is_empty() || params.clusters.contains(c))
        {
            let info: ClusterInfoResponse = rest::get(&client, format!("/clusters/{cluster}"))
                .await
                .map_err(|e| rest::status(&format!("reading cluster {cluster}"), &e))?;
            for node in &info.nodes {
                let node: NodeInfoResponse = rest::get(&client, format!("/nodes/{node}"))
                    .await
                    .map_err(|e| rest::status(&format!("reading node {node}"), &e))?;
                if node.state != "online" {
                    continue;
                }
                free_kib += node
                    .devices
                    .iter()
                    .filter(|d| d.state == "online")
                    .map(|d| d.storage.free)
                    .sum::<u64>();
            }
        }
        // What one copy of the data can use: replicas and redundancy take
        // their share of the raw space.
        let (data, total) = match params.volume_type {
            VolumeType::Replicate(n) => (1, n.max(1)),
            VolumeType::Disperse { data, redundancy } => (data.max(1), (data + redundancy).max(1)),
            VolumeType::None => (1, 1),
        };
        let usable = free_kib.saturating_mul(1024) / total as u64 * data as u64;
        Ok(csi::GetCapacityResponse {
            available_capacity: i64::try_from(usable).unwrap_or(i64::MAX),
            maximum_volume_size: None,
            minimum_volume_size: Some(GIB),
        })
    }
}

fn capability(t: csi::controller_service_capability::rpc::Type) -> csi::ControllerServiceCapability {
    csi::ControllerServiceCapability {
        r#type: Some(csi::controller_service_capability::Type::Rpc(
            csi::controller_service_capability::Rpc { r#type: t as i32 },
        )),
    }
}

#[tonic::async_trait]
impl csi::controller_server::Controller for Controller {
    async fn create_volume(
        &self,
        request: Request<csi::CreateVolumeRequest>,
    ) -> Result<Response<csi::CreateVolumeResponse>, Status> {
        self.create(request.into_inner()).await.map(Response::new)
    }

    async fn delete_volume(
        &self,
        request: Request<csi::DeleteVolumeRequest>,
    ) -> Result<Response<csi::DeleteVolumeResponse>, Status> {
        self.delete(request.into_inner()).await.map(Response::new)
    }

    async fn validate_volume_capabilities(
        &self,
        request: Request<csi::ValidateVolumeCapabilitiesRequest>,
    ) -> Result<Response<csi::ValidateVolumeCapabilitiesResponse>, Status> {
        self.validate(request.into_inner()).await.map(Response::new)
    }

    async fn list_volumes(
        &self,
        request: Request<csi::ListVolumesRequest>,
    ) -> Result<Response<csi::ListVolumesResponse>, Status> {
        self.list(request.into_inner()).await.map(Response::new)
    }

    async fn get_capacity(
        &self,
        request: Request<csi::GetCapacityRequest>,
    ) -> Result<Response<csi::GetCapacityResponse>, Status> {
        self.capacity(request.into_inner()).await.map(Response::new)
    }

    async fn controller_get_capabilities(
        &self,
        _request: Request<csi::ControllerGetCapabilitiesRequest>,
    ) -> Result<Response<csi::ControllerGetCapabilitiesResponse>, Status> {
        use csi::controller_service_capability::rpc::Type;
        Ok(Response::new(csi::ControllerGetCapabilitiesResponse {
            capabilities: [
                Type::CreateDeleteVolume,
                Type::ListVolumes,
                Type::GetCapacity,
                Type::CloneVolume,
                Type::ExpandVolume,
            ]
            .into_iter()
            .map(capability)
            .collect(),
        }))
    }

    async fn controller_expand_volume(
        &self,
        request: Request<csi::ControllerExpandVolumeRequest>,
    ) -> Result<Response<csi::ControllerExpandVolumeResponse>, Status> {
        self.expand(request.into_inner()).await.map(Response::new)
    }
}
