//! What the volume operations run on the storage nodes: bricks created
//! and destroyed in parallel (bounded per node), the gluster volume's
//! description, its removal from whichever node answers, and what gluster
//! holds (the points of no return are read from there).

use std::collections::HashMap;

use futures::future::join_all;

use crate::executor::GlusterVolumeSpec;
use crate::store::records::{BrickRecord, VolumeRecord};

use super::plan::{brick_spec, gluster_layout, go_true, layout_of, option_map};
use super::{gluster_host, hosts_of, online_nodes_up_first};
use crate::ops::{Engine, OpError};

/// Creates bricks in parallel, bounded per node.
pub(crate) async fn create_bricks(engine: &Engine, bricks: &[BrickRecord], gid: i64) -> Result<(), OpError> {
    let mut jobs = Vec::new();
    for b in bricks {
        let (host, _) = hosts_of(engine, &b.node)?;
        let spec = brick_spec(b, gid);
        jobs.push(async move {
            let _slot = engine.hosts.enter(&host).await;
            engine.executor.brick_create(&host, &spec).await
        });
    }
    for result in join_all(jobs).await {
        result?;
    }
    Ok(())
}

/// Destroys bricks in parallel; returns which were reclaimed.
pub(crate) async fn destroy_bricks(
    engine: &Engine,
    bricks: &[BrickRecord],
    gid: i64,
) -> Result<HashMap<String, bool>, OpError> {
    let mut jobs = Vec::new();
    for b in bricks {
        let (host, _) = hosts_of(engine, &b.node)?;
        let spec = brick_spec(b, gid);
        let id = b.id.clone();
        jobs.push(async move {
            let _slot = engine.hosts.enter(&host).await;
            (id, engine.executor.brick_destroy(&host, &spec).await)
        });
    }
    let mut reclaimed = HashMap::new();
    for (id, result) in join_all(jobs).await {
        reclaimed.insert(id, result?);
    }
    Ok(reclaimed)
}

pub(crate) fn gluster_spec(
    engine: &Engine,
    volume: &VolumeRecord,
    bricks: &[BrickRecord],
) -> Result<GlusterVolumeSpec, OpError> {
    let mut entries = Vec::new();
    for b in bricks {
        let (_, storage) = hosts_of(engine, &b.node)?;
        entries.push(format!("{storage}:{}", b.path));
    }
    let arbiter = option_map(&volume.options)
        .get("user.heketi.arbiter")
        .is_some_and(|v| go_true(v));
    let mut options = volume.options.clone();
    options.push(format!("user.heketi.id {}", volume.id));
    Ok(GlusterVolumeSpec {
        name: volume.name.clone(),
        layout: gluster_layout(layout_of(&volume.durability), arbiter),
        bricks: entries,
        options,
    })
}

/// Heketi's "try on hosts": stop and delete the gluster volume from the
/// first online node that manages it, so one dead node cannot block it;
/// nodes the health monitor found down are tried last.
pub(crate) async fn destroy_gluster_volume(engine: &Engine, cluster: &str, name: &str) -> Result<(), OpError> {
    let mut last = None;
    for node in online_nodes_up_first(engine, cluster)? {
        match engine.executor.volume_destroy(node.manage_host(), name).await {
            Ok(()) => return Ok(()),
            Err(e) => last = Some(e),
        }
    }
    Err(match last {
        Some(e) => OpError::Internal(format!("Unable to delete volume {name}: {e}")),
        None => OpError::NoGlusterNode(cluster.to_string()),
    })
}

/// Whether gluster still has a volume, asked of a node of its cluster.
pub(crate) async fn gluster_has_volume(engine: &Engine, volume: &VolumeRecord) -> Result<bool, OpError> {
    let host = gluster_host(engine, &volume.cluster)?;
    engine
        .executor
        .volume_info(&host, &volume.name)
        .await
        .map(|v| v.is_some())
        .map_err(OpError::from)
}

/// How many of an expansion's new bricks gluster lists in the volume:
/// none means `add-brick` (its point of no return) never took effect.
pub(crate) async fn new_bricks_in_gluster(
    engine: &Engine,
    volume: &VolumeRecord,
    bricks: &[BrickRecord],
) -> Result<usize, OpError> {
    let host = gluster_host(engine, &volume.cluster)?;
    let listed = engine
        .executor
        .volume_bricks(&host, &volume.name)
        .await?
        .unwrap_or_default();
    let spec = gluster_spec(engine, volume, bricks)?;
    Ok(spec.bricks.iter().filter(|b| listed.contains(b)).count())
}

/// Node-side undo of a create: the gluster volume and the bricks.
pub(crate) async fn undo_volume(engine: &Engine, volume_id: &str, brick_ids: &[String]) -> Result<(), OpError> {
    let Some(volume) = engine.store.get::<VolumeRecord>(volume_id)? else {
        return Ok(());
    };
    match destroy_gluster_volume(engine, &volume.cluster, &volume.name).await {
        // Nobody to ask: a gluster volume can only have been made on a node
        // that was online, and such a node is online now or gone.
        Err(OpError::NoGlusterNode(_)) | Ok(()) => {}
        Err(other) => return Err(other),
    }
    destroy_stored_bricks(engine, brick_ids, volume.gid).await
}

/// Node-side undo of an expansion: its new bricks.
pub(crate) async fn undo_bricks(engine: &Engine, volume_id: &str, brick_ids: &[String]) -> Result<(), OpError> {
    let gid = engine.store.get::<VolumeRecord>(volume_id)?.map(|v| v.gid).unwrap_or(0);
    destroy_stored_bricks(engine, brick_ids, gid).await
}

/// Destroys the bricks of `ids` the store still has.
pub(crate) async fn destroy_stored_bricks(engine: &Engine, ids: &[String], gid: i64) -> Result<(), OpError> {
    let mut bricks = Vec::new();
    for id in ids {
        bricks.extend(engine.store.get::<BrickRecord>(id)?);
    }
    destroy_bricks(engine, &bricks, gid).await.map(|_| ())
}
