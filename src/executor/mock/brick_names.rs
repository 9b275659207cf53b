//! The names Brickyard gives a brick on a node, read back into its two
//! ids: `vg_<device>/tp_<brick>` and `vg_<device>/brick_<brick>`, the mount
//! point under Heketi's root, the device node under `/dev/mapper`, and the
//! fstab line with the default mount options. Each parse is exact: a name
//! parses only when writing its ids back gives the same string, so the
//! compact tables (`tables.rs`) never change what a name reads as.

use std::fmt;

use super::packed::HEX_DIGITS;
use crate::executor::BRICK_MOUNT_ROOTS;

/// 32 lower-case hex digits, as `ids::new_id` makes them, in 16 bytes.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) struct Id([u8; 16]);

fn nibble(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        _ => None,
    }
}

impl Id {
    /// Exactly 32 lower-case hex digits, and nothing else.
    pub(super) fn parse(s: &str) -> Option<Id> {
        let digits = s.as_bytes();
        if digits.len() != 32 {
            return None;
        }
        let mut out = [0u8; 16];
        for (byte, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
            *byte = (nibble(pair[0])? << 4) | nibble(pair[1])?;
        }
        Some(Id(out))
    }
}

impl fmt::Display for Id {
    // One write of all 32 digits: a snapshot writes hundreds of thousands.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut digits = [0u8; 32];
        for (pair, b) in digits.chunks_exact_mut(2).zip(self.0) {
            pair[0] = HEX_DIGITS[usize::from(b >> 4)];
            pair[1] = HEX_DIGITS[usize::from(b & 15)];
        }
        f.write_str(std::str::from_utf8(&digits).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Which of a brick's two LVs a key names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum LvKind {
    /// `tp_<brick>`: the thin pool.
    Pool,
    /// `brick_<brick>`: the thin LV in it.
    Thin,
}

const MAPPER: &str = "/dev/mapper/";
/// What follows the mount point in a brick's fstab line, with the default
/// mount options (`mountopts`); other options make a line kept as text.
const FSTAB_TAIL: &str = "xfs rw,inode64,noatime,nouuid 1 2";

/// `vg_<vg>/tp_<brick>` or `vg_<vg>/brick_<brick>`.
pub(super) fn lv_key(vg: Id, kind: LvKind, brick: Id) -> String {
    match kind {
        LvKind::Pool => format!("vg_{vg}/tp_{brick}"),
        LvKind::Thin => format!("vg_{vg}/brick_{brick}"),
    }
}

pub(super) fn parse_lv_key(key: &str) -> Option<(Id, LvKind, Id)> {
    let (vg, lv) = key.strip_prefix("vg_")?.split_once('/')?;
    let vg = Id::parse(vg)?;
    match lv.strip_prefix("tp_") {
        Some(brick) => Some((vg, LvKind::Pool, Id::parse(brick)?)),
        None => Some((vg, LvKind::Thin, Id::parse(lv.strip_prefix("brick_")?)?)),
    }
}

/// The thin pool a standard thin LV is in.
pub(super) fn pool_name(brick: Id) -> String {
    format!("tp_{brick}")
}

pub(super) fn parse_pool_name(name: &str) -> Option<Id> {
    Id::parse(name.strip_prefix("tp_")?)
}

pub(super) fn parse_vg_name(name: &str) -> Option<Id> {
    Id::parse(name.strip_prefix("vg_")?)
}

/// `/var/lib/heketi/mounts/vg_<vg>/brick_<brick>`.
pub(super) fn mount_point(vg: Id, brick: Id) -> String {
    format!("{}vg_{vg}/brick_{brick}", BRICK_MOUNT_ROOTS[0])
}

pub(super) fn parse_mount_point(point: &str) -> Option<(Id, Id)> {
    let (vg, brick) = point
        .strip_prefix(BRICK_MOUNT_ROOTS[0])?
        .strip_prefix("vg_")?
        .split_once('/')?;
    Some((Id::parse(vg)?, Id::parse(brick.strip_prefix("brick_")?)?))
}

/// `/dev/mapper/vg_<vg>-brick_<brick>`.
pub(super) fn device(vg: Id, brick: Id) -> String {
    format!("{MAPPER}vg_{vg}-brick_{brick}")
}

pub(super) fn parse_device(device: &str) -> Option<(Id, Id)> {
    let (vg, brick) = device.strip_prefix(MAPPER)?.strip_prefix("vg_")?.split_once('-')?;
    Some((Id::parse(vg)?, Id::parse(brick.strip_prefix("brick_")?)?))
}

/// The fstab line that mounts the brick with the default options.
pub(super) fn fstab_line(vg: Id, brick: Id) -> String {
    format!("{} {} {FSTAB_TAIL}", device(vg, brick), mount_point(vg, brick))
}

pub(super) fn parse_fstab_line(line: &str) -> Option<(Id, Id)> {
    let (device, rest) = line.split_once(' ')?;
    let (point, tail) = rest.split_once(' ')?;
    let ids = parse_device(device)?;
    (tail == FSTAB_TAIL && parse_mount_point(point) == Some(ids)).then_some(ids)
}

/// `brick_<brick>`, as the fstab lines of that brick hold it.
pub(super) fn parse_brick_marker(marker: &str) -> Option<Id> {
    Id::parse(marker.strip_prefix("brick_")?)
}

#[cfg(test)]
mod tests {
    use super::*;

    const V: &str = "0123456789abcdef0123456789abcdef";
    const B: &str = "fedcba9876543210fedcba9876543210";

    fn ids() -> (Id, Id) {
        (Id::parse(V).unwrap(), Id::parse(B).unwrap())
    }

    #[test]
    fn each_name_parses_back_to_its_ids() {
        let (v, b) = ids();
        assert_eq!(v.to_string(), V);
        assert_eq!(parse_lv_key(&lv_key(v, LvKind::Pool, b)), Some((v, LvKind::Pool, b)));
        assert_eq!(parse_lv_key(&lv_key(v, LvKind::Thin, b)), Some((v, LvKind::Thin, b)));
        assert_eq!(lv_key(v, LvKind::Thin, b), format!("vg_{V}/brick_{B}"));
        assert_eq!(parse_mount_point(&mount_point(v, b)), Some((v, b)));
        assert_eq!(mount_point(v, b), format!("/var/lib/heketi/mounts/vg_{V}/brick_{B}"));
        assert_eq!(parse_device(&device(v, b)), Some((v, b)));
        assert_eq!(
            fstab_line(v, b),
            format!("/dev/mapper/vg_{V}-brick_{B} /var/lib/heketi/mounts/vg_{V}/brick_{B} xfs rw,inode64,noatime,nouuid 1 2")
        );
        assert_eq!(parse_fstab_line(&fstab_line(v, b)), Some((v, b)));
        assert_eq!(parse_pool_name(&pool_name(b)), Some(b));
        assert_eq!(parse_vg_name(&format!("vg_{V}")), Some(v));
        assert_eq!(parse_brick_marker(&format!("brick_{B}")), Some(b));
    }

    #[test]
    fn anything_else_does_not_parse() {
        let upper = V.to_uppercase();
        for id in [
            "",
            "d1",
            &V[1..],
            &format!("{V}0"),
            &upper,
            "0123456789abcdef0123456789abcdeg",
        ] {
            assert_eq!(Id::parse(id), None, "{id}");
            assert_eq!(parse_lv_key(&format!("vg_{id}/tp_{B}")), None);
            assert_eq!(parse_lv_key(&format!("vg_{V}/brick_{id}")), None);
        }
        let (v, b) = ids();
        let line = fstab_line(v, b);
        let others = [
            format!("vg_{V}/tp_{B}/x"),
            format!("vg_{V}/snap_{B}"),
            format!("/var/lib/heketi/mounts/vg_{V}/brick_{B}/brick"),
            format!("/run/gluster/snaps/vg_{V}/brick_{B}"),
            format!("/dev/mapper/vg_{V}-tp_{B}"),
            line.replace("nouuid", "nouuid,discard"),
            line.replacen(&format!("brick_{B}"), &format!("brick_{V}"), 1),
            format!("{line} "),
            format!("{line}\n"),
            line.replace(' ', "\t"),
        ];
        assert_eq!(parse_lv_key(&others[0]), None);
        assert_eq!(parse_lv_key(&others[1]), None);
        assert_eq!(parse_mount_point(&others[2]), None);
        assert_eq!(parse_mount_point(&others[3]), None);
        assert_eq!(parse_device(&others[4]), None);
        for other in &others[5..] {
            assert_eq!(parse_fstab_line(other), None, "{other}");
        }
    }
}
