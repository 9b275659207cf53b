//! A static PV may carry nothing but its volume id (written by hand for a
//! volume made before); the node then asks the REST API what to mount.
//! Credentials come from the PV's node-stage secret (`user`, `key`) or the
//! driver's own settings.

use std::collections::HashMap;

use tonic::Status;

use super::request::{no_such_volume, volume_id};
use super::rest::{self, Clients, Meaning, RestDefaults, Target};
use super::volume::VolumeFacts;
use crate::wire::volumes::VolumeInfoResponse;

pub struct Lookup {
    defaults: RestDefaults,
    clients: Clients,
}

impl Lookup {
    pub fn new(defaults: RestDefaults) -> Lookup {
        Lookup {
            defaults,
            clients: Clients::default(),
        }
    }

    /// What to mount for `id`, read from the server.
    pub async fn facts(&self, id: &str, secrets: &HashMap<String, String>) -> Result<VolumeFacts, Status> {
        let Some(id) = volume_id("volume_id", id)? else {
            return Err(no_such_volume(id));
        };
        let url = self.defaults.url.clone().ok_or_else(|| {
            Status::failed_precondition(format!(
                "volume {id}: its volume_context has no volume name, and the node has no REST URL \
                 (--rest-url) to look it up; print the PV with `brickyard csi pv`"
            ))
        })?;
        let target = Target {
            url,
            user: secrets
                .get("user")
                .cloned()
                .unwrap_or_else(|| self.defaults.user.clone()),
            key: secrets.get("key").cloned().unwrap_or_else(|| self.defaults.key.clone()),
        };
        let client = self.clients.get(&target).await?;
        match rest::get::<VolumeInfoResponse>(&client, format!("/volumes/{id}")).await {
            Ok(v) => Ok(VolumeFacts::of(&v)),
            Err(e) if rest::meaning(&e) == Meaning::NotFound => Err(no_such_volume(id)),
            Err(e) => Err(rest::status(&format!("looking up volume {id}"), &e)),
        }
    }
}
