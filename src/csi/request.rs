//! What a CSI request asks for, checked: sizes in whole GiB within the
//! capacity range, capabilities (file system mounts, any access mode), the
//! Brickyard volume name a CSI name maps to, the layout a StorageClass asks.

use tonic::Status;

use super::params::{is_name, Params, VolumeType};
use super::proto::v1 as csi;
use crate::wire::volumes::{DisperseDurability, Durability, ReplicaDurability};

pub const GIB: i64 = 1 << 30;

pub fn invalid(what: impl Into<String>) -> Status {
    Status::invalid_argument(what.into())
}

/// A volume id from the caller: required, and `None` when it cannot name
/// any volume (Brickyard's ids are hexadecimal, as its REST routes take
/// them), so nothing else ever reaches a request path.
pub fn volume_id<'a>(field: &str, id: &'a str) -> Result<Option<&'a str>, Status> {
    if id.is_empty() {
        return Err(invalid(format!("{field} is required")));
    }
    Ok(crate::ids::is_route_id(id).then_some(id))
}

/// The answer for an id that names no volume.
pub fn no_such_volume(id: &str) -> Status {
    Status::not_found(format!("volume {id:?} does not exist"))
}

/// Whole GiB for a capacity range: the smallest size satisfying it.
pub fn size_gib(range: Option<&csi::CapacityRange>) -> Result<i64, Status> {
    let Some(range) = range else { return Ok(1) };
    let (required, limit) = (range.required_bytes, range.limit_bytes);
    if required < 0 || limit < 0 {
        return Err(invalid("capacity_range: sizes must not be negative"));
    }
    if required == 0 && limit == 0 {
        return Err(invalid("capacity_range: required_bytes or limit_bytes must be set"));
    }
    let gib = (required.max(1) + GIB - 1) / GIB;
    if limit > 0 && gib * GIB > limit {
        return Err(Status::out_of_range(format!(
            "capacity_range: Brickyard sizes volumes in whole GiB; {required} bytes needs {gib} GiB, \
             more than limit_bytes {limit}"
        )));
    }
    Ok(gib)
}

/// Whether `bytes` satisfies a capacity range.
pub fn fits(bytes: i64, range: Option<&csi::CapacityRange>) -> bool {
    range.is_none_or(|r| bytes >= r.required_bytes && (r.limit_bytes == 0 || bytes <= r.limit_bytes))
}

/// Every capability must be a file system mount; any access mode is fine
/// on shared storage. Raw block is refused.
pub fn check_capabilities(caps: &[csi::VolumeCapability]) -> Result<(), Status> {
    if caps.is_empty() {
        return Err(invalid("volume_capabilities are required"));
    }
    for cap in caps {
        check_capability(cap)?;
    }
    Ok(())
}

pub fn check_capability(cap: &csi::VolumeCapability) -> Result<(), Status> {
    use csi::volume_capability::access_mode::Mode;
    use csi::volume_capability::AccessType;
    match &cap.access_type {
        Some(AccessType::Mount(_)) => {}
        Some(AccessType::Block(_)) => {
            return Err(invalid(
                "volume_capabilities: raw block access is not supported (GlusterFS volumes are file systems)",
            ))
        }
        None => return Err(invalid("volume_capabilities: access_type (mount or block) is required")),
    }
    let mode = cap.access_mode.as_ref().map(|m| m.mode).unwrap_or_default();
    match Mode::try_from(mode) {
        Ok(Mode::Unknown) | Err(_) => Err(invalid(format!(
            "volume_capabilities: access_mode {mode} is not a known mode"
        ))),
        Ok(_) => Ok(()),
    }
}

/// The Brickyard volume name for a CSI name: `<prefix>_<pvc ns>_<pvc
/// name>_<pvc uid>` as the in-tree provisioner named them when a prefix and
/// the claim are known, else the CSI name itself (`pvc-<uid>`).
pub fn volume_name(params: &Params, csi_name: &str) -> Result<String, Status> {
    let name = match (&params.name_prefix, &params.pvc) {
        (Some(prefix), Some((namespace, claim))) => {
            let uid = csi_name.strip_prefix("pvc-").unwrap_or(csi_name);
            format!("{prefix}_{namespace}_{claim}_{uid}")
        }
        (Some(prefix), None) => format!("{prefix}_{csi_name}"),
        (None, _) => csi_name.to_string(),
    };
    if name.is_empty() || !is_name(&name) {
        return Err(invalid(format!(
            "name: the volume name {name:?} may hold only letters, digits, '_' and '-'"
        )));
    }
    Ok(name)
}

pub fn durability(t: VolumeType) -> Durability {
    match t {
        VolumeType::Replicate(replica) => Durability {
            kind: "replicate".into(),
            replicate: ReplicaDurability { replica },
            ..Durability::default()
        },
        VolumeType::Disperse { data, redundancy } => Durability {
            kind: "disperse".into(),
            disperse: DisperseDurability { data, redundancy },
            ..Durability::default()
        },
        VolumeType::None => Durability {
            kind: "none".into(),
            ..Durability::default()
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn range(required: i64, limit: i64) -> csi::CapacityRange {
        csi::CapacityRange {
            required_bytes: required,
            limit_bytes: limit,
        }
    }

    #[test]
    fn sizes_round_up_to_whole_gib_within_the_limit() {
        assert_eq!(size_gib(None).unwrap(), 1);
        assert_eq!(size_gib(Some(&range(1, 0))).unwrap(), 1);
        assert_eq!(size_gib(Some(&range(GIB + 1, 0))).unwrap(), 2);
        assert_eq!(size_gib(Some(&range(0, 3 * GIB))).unwrap(), 1);
        assert_eq!(size_gib(Some(&range(2 * GIB, 2 * GIB))).unwrap(), 2);
        assert_eq!(
            size_gib(Some(&range(GIB + 1, GIB + 10))).unwrap_err().code(),
            tonic::Code::OutOfRange
        );
        assert_eq!(
            size_gib(Some(&range(0, 0))).unwrap_err().code(),
            tonic::Code::InvalidArgument
        );
        assert_eq!(
            size_gib(Some(&range(-1, 0))).unwrap_err().code(),
            tonic::Code::InvalidArgument
        );
    }

    #[test]
    fn names_follow_the_in_tree_provisioner() {
        let mut p = Params::parse(&HashMap::new()).unwrap();
        assert_eq!(volume_name(&p, "pvc-1234").unwrap(), "pvc-1234");
        p.name_prefix = Some("dept".into());
        assert_eq!(volume_name(&p, "pvc-1234").unwrap(), "dept_pvc-1234");
        p.pvc = Some(("ns".into(), "claim".into()));
        assert_eq!(volume_name(&p, "pvc-1234").unwrap(), "dept_ns_claim_1234");
        p.pvc = Some(("ns".into(), "my.claim".into()));
        assert_eq!(
            volume_name(&p, "pvc-1").unwrap_err().code(),
            tonic::Code::InvalidArgument
        );
    }

    #[test]
    fn only_mounts_with_a_known_mode_pass() {
        use csi::volume_capability::{access_mode::Mode, AccessMode, AccessType, BlockVolume, MountVolume};
        let cap = |access: Option<AccessType>, mode: Mode| csi::VolumeCapability {
            access_mode: Some(AccessMode { mode: mode as i32 }),
            access_type: access,
        };
        let mount = || Some(AccessType::Mount(MountVolume::default()));
        for mode in [
            Mode::SingleNodeWriter,
            Mode::SingleNodeReaderOnly,
            Mode::MultiNodeReaderOnly,
            Mode::MultiNodeSingleWriter,
            Mode::MultiNodeMultiWriter,
            Mode::SingleNodeSingleWriter,
            Mode::SingleNodeMultiWriter,
        ] {
            check_capability(&cap(mount(), mode)).unwrap();
        }
        let block =
            check_capability(&cap(Some(AccessType::Block(BlockVolume {})), Mode::SingleNodeWriter)).unwrap_err();
        assert!(block.message().contains("raw block"), "{}", block.message());
        assert!(check_capability(&cap(mount(), Mode::Unknown)).is_err());
        assert!(check_capability(&cap(None, Mode::SingleNodeWriter)).is_err());
        assert!(check_capabilities(&[]).is_err());
    }
}
