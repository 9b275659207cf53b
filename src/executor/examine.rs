//! What a node reports to the examiner (`GET /internal/state/examine/gluster`),
//! in the shapes Heketi's executor gives it, which its report carries as
//! they are: gluster's `volume info --xml` (with Go's `XMLName` fields),
//! LVM's `pvs`/`vgs`/`lvs` JSON reports, and each fstab line with whether
//! its device is mounted. And the readers of what the nodes print for them.

use serde::{Deserialize, Serialize, Serializer};

use super::commands::LvmReportKind;
use super::parse::{child_text, cli_output, ParseError};

/// Go's `encoding/json` writes a nil slice as `null`; Heketi's report has
/// `null` wherever a node listed nothing.
fn null_if_empty<T: Serialize, S: Serializer>(items: &[T], s: S) -> Result<S::Ok, S::Error> {
    if items.is_empty() {
        s.serialize_none()
    } else {
        items.serialize(s)
    }
}

/// Go's `xml.Name`, as its JSON encoder writes it: the element's name,
/// filled in when the element was read.
#[derive(Serialize, Debug, Clone, Default, PartialEq, Eq)]
pub struct XmlName {
    #[serde(rename = "Space")]
    pub space: String,
    #[serde(rename = "Local")]
    pub local: String,
}

impl XmlName {
    pub fn of(name: &str) -> XmlName {
        XmlName {
            space: String::new(),
            local: name.to_string(),
        }
    }
}

/// `gluster volume info --xml`: every volume of the trusted pool.
#[derive(Serialize, Debug, Clone, Default, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct VolInfo {
    #[serde(rename = "XMLName")]
    pub xml_name: XmlName,
    pub volumes: Volumes,
}

#[derive(Serialize, Debug, Clone, Default, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct Volumes {
    #[serde(rename = "XMLName")]
    pub xml_name: XmlName,
    pub count: i64,
    #[serde(serialize_with = "null_if_empty")]
    pub volume_list: Vec<Volume>,
}

#[derive(Serialize, Debug, Clone, Default, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct Volume {
    #[serde(rename = "XMLName")]
    pub xml_name: XmlName,
    pub volume_name: String,
    #[serde(rename = "ID")]
    pub id: String,
    pub status: i64,
    pub status_str: String,
    pub brick_count: i64,
    pub dist_count: i64,
    pub stripe_count: i64,
    pub replica_count: i64,
    pub arbiter_count: i64,
    pub disperse_count: i64,
    pub redundancy_count: i64,
    #[serde(rename = "Type")]
    pub kind: i64,
    #[serde(rename = "TypeStr")]
    pub kind_str: String,
    pub transport: i64,
    pub bricks: Bricks,
    pub opt_count: i64,
    pub options: VolumeOptions,
}

#[derive(Serialize, Debug, Clone, Default, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct Bricks {
    #[serde(rename = "XMLName")]
    pub xml_name: XmlName,
    #[serde(serialize_with = "null_if_empty")]
    pub brick_list: Vec<Brick>,
}

#[derive(Serialize, Debug, Clone, Default, PartialEq, Eq)]
pub struct Brick {
    #[serde(rename = "UUID")]
    pub uuid: String,
    /// `host:/path`.
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "HostUUID")]
    pub host_uuid: String,
    #[serde(rename = "IsArbiter")]
    pub is_arbiter: i64,
}

#[derive(Serialize, Debug, Clone, Default, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct VolumeOptions {
    #[serde(rename = "XMLName")]
    pub xml_name: XmlName,
    #[serde(serialize_with = "null_if_empty")]
    pub option_list: Vec<VolumeOption>,
}

#[derive(Serialize, Debug, Clone, Default, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct VolumeOption {
    pub name: String,
    pub value: String,
}

impl VolInfo {
    /// The names of the pool's volumes.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.volumes.volume_list.iter().map(|v| v.volume_name.as_str())
    }
}

/// LVM's JSON report: `{"report": [{"<section>": [rows]}]}`.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
#[serde(bound(deserialize = "S: Deserialize<'de>"))]
pub struct LvmReport<S> {
    #[serde(default = "Vec::new")]
    pub report: Vec<S>,
}

#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
pub struct PvSection {
    #[serde(default, serialize_with = "null_if_empty")]
    pub pv: Vec<PvRow>,
}

#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
pub struct VgSection {
    #[serde(default, serialize_with = "null_if_empty")]
    pub vg: Vec<VgRow>,
}

#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
pub struct LvSection {
    #[serde(default, serialize_with = "null_if_empty")]
    pub lv: Vec<LvRow>,
}

/// `pvs --reportformat json --units k`; sizes as LVM prints them (`…k`).
pub type PvsReport = LvmReport<PvSection>;
/// `vgs --reportformat json --units k`.
pub type VgsReport = LvmReport<VgSection>;
/// `lvs --reportformat json --units k`.
pub type LvsReport = LvmReport<LvSection>;

#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, Eq)]
#[serde(default)]
pub struct PvRow {
    pub pv_name: String,
    pub vg_name: String,
    pub pv_fmt: String,
    pub pv_attr: String,
    pub pv_size: String,
    pub pv_free: String,
}

#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, Eq)]
#[serde(default)]
pub struct VgRow {
    pub vg_name: String,
    /// Heketi's report names it `pv_count:` (a typo in its struct tag, so
    /// it never held a value there); the key is kept, the count filled in.
    #[serde(rename(serialize = "pv_count:", deserialize = "pv_count"))]
    pub pv_count: String,
    pub lv_count: String,
    pub snap_count: String,
    pub vg_attr: String,
    pub vg_size: String,
    pub vg_free: String,
}

impl VgRow {
    /// `vg_size` in KiB: `--units k` prints KiB with two decimals (`…00k`).
    pub fn size_kib(&self) -> Option<u64> {
        let number = self.vg_size.trim().strip_suffix(['k', 'K'])?;
        let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
        if !fraction.bytes().all(|b| b == b'0') {
            return None;
        }
        whole.parse().ok()
    }
}

#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, Eq)]
#[serde(default)]
pub struct LvRow {
    pub lv_name: String,
    pub vg_name: String,
    pub lv_attr: String,
    pub lv_size: String,
    pub pool_lv: String,
    pub origin: String,
    pub data_percent: String,
    pub metadata_percent: String,
    pub move_pv: String,
    pub mirror_log: String,
    pub copy_percent: String,
    pub convert_lv: String,
}

/// Every fstab line of a node, with whether its device is mounted.
#[derive(Serialize, Debug, Clone, Default, PartialEq, Eq)]
pub struct BricksMountStatus {
    #[serde(rename = "Statuses", serialize_with = "null_if_empty")]
    pub statuses: Vec<MountStatus>,
}

#[derive(Serialize, Debug, Clone, Default, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct MountStatus {
    pub device: String,
    pub mount_point: String,
    #[serde(rename = "Type")]
    pub fs_type: String,
    pub mount_options: String,
    pub mounted: bool,
}

/// Reads `gluster volume info --xml` as Heketi's executor does.
pub fn read_vol_info(xml: &str) -> Result<VolInfo, ParseError> {
    let doc = cli_output(xml)?;
    let mut info = VolInfo::default();
    let Some(vol_info) = doc.root_element().children().find(|c| c.has_tag_name("volInfo")) else {
        return Ok(info);
    };
    info.xml_name = XmlName::of("volInfo");
    let Some(volumes) = vol_info.children().find(|c| c.has_tag_name("volumes")) else {
        return Ok(info);
    };
    let number = |node, name| child_text(node, name).and_then(|t| t.trim().parse().ok()).unwrap_or(0);
    let text = |node, name| child_text(node, name).unwrap_or_default().trim().to_string();
    info.volumes = Volumes {
        xml_name: XmlName::of("volumes"),
        count: number(volumes, "count"),
        volume_list: volumes
            .children()
            .filter(|c| c.has_tag_name("volume"))
            .map(|v| Volume {
                xml_name: XmlName::of("volume"),
                volume_name: text(v, "name"),
                id: text(v, "id"),
                status: number(v, "status"),
                status_str: text(v, "statusStr"),
                brick_count: number(v, "brickCount"),
                dist_count: number(v, "distCount"),
                stripe_count: number(v, "stripeCount"),
                replica_count: number(v, "replicaCount"),
                arbiter_count: number(v, "arbiterCount"),
                disperse_count: number(v, "disperseCount"),
                redundancy_count: number(v, "redundancyCount"),
                kind: number(v, "type"),
                kind_str: text(v, "typeStr"),
                transport: number(v, "transport"),
                bricks: {
                    let (xml_name, brick_list) = listed(v, "bricks", "brick", |b| Brick {
                        uuid: b.attribute("uuid").unwrap_or_default().to_string(),
                        name: text(b, "name"),
                        host_uuid: text(b, "hostUuid"),
                        is_arbiter: number(b, "isArbiter"),
                    });
                    Bricks { xml_name, brick_list }
                },
                opt_count: number(v, "optCount"),
                options: {
                    let (xml_name, option_list) = listed(v, "options", "option", |o| VolumeOption {
                        name: text(o, "name"),
                        value: text(o, "value"),
                    });
                    VolumeOptions { xml_name, option_list }
                },
            })
            .collect(),
    };
    Ok(info)
}

/// The `<item>` children of `parent`'s `<list>` child, each read with
/// `read`, and the list's name as Go's decoder fills it (empty when absent).
fn listed<'a, T>(
    parent: roxmltree::Node<'a, 'a>,
    list: &str,
    item: &str,
    read: impl Fn(roxmltree::Node<'a, 'a>) -> T,
) -> (XmlName, Vec<T>) {
    match parent.children().find(|c| c.has_tag_name(list)) {
        Some(node) => (
            XmlName::of(list),
            node.children().filter(|c| c.has_tag_name(item)).map(read).collect(),
        ),
        None => (XmlName::default(), Vec::new()),
    }
}

/// Reads one of LVM's JSON reports.
pub fn read_lvm_report<S: for<'de> Deserialize<'de>>(output: &str) -> Result<LvmReport<S>, ParseError> {
    serde_json::from_str(output.trim()).map_err(ParseError::LvmReport)
}

/// One of LVM's reports, of the kind asked for.
#[derive(Debug, Clone, PartialEq)]
pub enum LvmRows {
    Pvs(PvsReport),
    Vgs(VgsReport),
    Lvs(LvsReport),
}

impl LvmRows {
    /// Reads the output of `lvm_report(kind)`.
    pub fn read(kind: LvmReportKind, output: &str) -> Result<LvmRows, ParseError> {
        Ok(match kind {
            LvmReportKind::Pvs => LvmRows::Pvs(read_lvm_report(output)?),
            LvmReportKind::Vgs => LvmRows::Vgs(read_lvm_report(output)?),
            LvmReportKind::Lvs => LvmRows::Lvs(read_lvm_report(output)?),
        })
    }
}

/// A report of a single section, as LVM writes one for a single command.
impl<S> From<S> for LvmReport<S> {
    fn from(section: S) -> LvmReport<S> {
        LvmReport { report: vec![section] }
    }
}

/// Heketi's reading of `mount` and the fstab: every line of the fstab that
/// is not blank or a comment, `mounted` when its device is the first field
/// of a `mount` line (Heketi's rule) or its mount point is mounted (`mount`
/// may name the device otherwise, as a loop or `dm-N` device). Lines of
/// fewer than four fields are skipped (Heketi's executor would fail on them).
pub fn read_mount_status(mount_output: &str, fstab: &str) -> BricksMountStatus {
    let significant = |line: &&str| !line.trim().is_empty() && !line.starts_with('#');
    // `<device> on <mount point> type <type> (<options>)`
    let mounted: std::collections::HashSet<&str> = mount_output
        .lines()
        .filter(significant)
        .flat_map(|l| {
            let fields: Vec<&str> = l.split_whitespace().collect();
            let target = (fields.get(1) == Some(&"on")).then(|| fields.get(2)).flatten();
            fields.first().into_iter().chain(target).copied().collect::<Vec<_>>()
        })
        .collect();
    BricksMountStatus {
        statuses: fstab
            .lines()
            .filter(significant)
            .filter_map(|line| {
                let fields: Vec<&str> = line.split_whitespace().collect();
                let [device, mount_point, fs_type, options, ..] = fields.as_slice() else {
                    return None;
                };
                Some(MountStatus {
                    device: device.to_string(),
                    mount_point: mount_point.to_string(),
                    fs_type: fs_type.to_string(),
                    mount_options: options.to_string(),
                    mounted: mounted.contains(device) || mounted.contains(mount_point),
                })
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INFO: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<cliOutput><opRet>0</opRet><opErrno>0</opErrno><opErrstr/><volInfo><volumes>
<volume><name>vol_1</name><id>6b1e-11</id><status>1</status><statusStr>Started</statusStr>
<snapshotCount>0</snapshotCount><brickCount>3</brickCount><distCount>3</distCount><stripeCount>1</stripeCount>
<replicaCount>3</replicaCount><arbiterCount>1</arbiterCount><disperseCount>0</disperseCount><redundancyCount>0</redundancyCount>
<type>2</type><typeStr>Replicate</typeStr><transport>0</transport>
<bricks><brick uuid="a">10.0.0.1:/b/1<name>10.0.0.1:/b/1</name><hostUuid>a</hostUuid><isArbiter>0</isArbiter></brick>
<brick uuid="b">10.0.0.2:/b/2<name>10.0.0.2:/b/2</name><hostUuid>b</hostUuid><isArbiter>1</isArbiter></brick></bricks>
<optCount>1</optCount><options><option><name>performance.readdir-ahead</name><value>on</value></option></options>
</volume><count>1</count></volumes></volInfo></cliOutput>"#;

    #[test]
    fn a_volume_groups_size_reads_in_whole_kib() {
        let size = |text: &str| {
            VgRow {
                vg_size: text.into(),
                ..VgRow::default()
            }
            .size_kib()
        };
        assert_eq!(size("104853504.00k"), Some(104_853_504));
        assert_eq!(size("4096k"), Some(4096));
        // Another unit, a fraction of a KiB or no number is not a size.
        assert_eq!(size("100.00g"), None);
        assert_eq!(size("1.50k"), None);
        assert_eq!(size(""), None);
    }

    #[test]
    fn volume_info_reads_as_heketis_executor_and_prints_as_go() {
        let info = read_vol_info(INFO).unwrap();
        assert_eq!(info.names().collect::<Vec<_>>(), ["vol_1"]);
        let v = &info.volumes.volume_list[0];
        assert_eq!((v.status, v.replica_count, v.arbiter_count, v.kind), (1, 3, 1, 2));
        assert_eq!(v.bricks.brick_list[1].is_arbiter, 1);
        assert_eq!(v.bricks.brick_list[0].uuid, "a");
        let json = serde_json::to_value(&info).unwrap();
        assert_eq!(json["XMLName"], serde_json::json!({"Space": "", "Local": "volInfo"}));
        assert_eq!(json["Volumes"]["Count"], 1);
        let vol = &json["Volumes"]["VolumeList"][0];
        assert_eq!(vol["VolumeName"], "vol_1");
        assert_eq!(vol["ID"], "6b1e-11");
        assert_eq!(vol["TypeStr"], "Replicate");
        assert_eq!(vol["Bricks"]["BrickList"][1]["HostUUID"], "b");
        assert_eq!(vol["Options"]["OptionList"][0]["Name"], "performance.readdir-ahead");
        assert_eq!(vol["OptCount"], 1);
    }

    #[test]
    fn an_empty_pool_lists_null_and_a_gluster_error_is_an_error() {
        let empty = "<cliOutput><opRet>0</opRet><opErrno>0</opErrno><opErrstr/><volInfo><volumes><count>0</count></volumes></volInfo></cliOutput>";
        let json = serde_json::to_value(read_vol_info(empty).unwrap()).unwrap();
        assert_eq!(json["Volumes"]["VolumeList"], serde_json::Value::Null);
        let refused =
            "<cliOutput><opRet>-1</opRet><opErrno>2</opErrno><opErrstr>Connection failed</opErrstr></cliOutput>";
        assert_eq!(read_vol_info(refused).unwrap_err().to_string(), "Connection failed");
    }

    #[test]
    fn lvm_reports_keep_lvms_strings_and_heketis_keys() {
        let vgs = r#"{"report":[{"vg":[{"vg_name":"vg_abc","pv_count":"1","lv_count":"2","snap_count":"0",
            "vg_attr":"wz--n-","vg_size":"8384512.00k","vg_free":"2093056.00k"}]}]}"#;
        let report: VgsReport = read_lvm_report(vgs).unwrap();
        assert_eq!(report.report[0].vg[0].vg_size, "8384512.00k");
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["report"][0]["vg"][0]["pv_count:"], "1");
        let lvs = r#"{"report":[{"lv":[{"lv_name":"tp_1","vg_name":"vg_abc","lv_attr":"twi-aotz--",
            "lv_size":"2097152.00k","pool_lv":"","origin":"","data_percent":"0.05","metadata_percent":"1.23",
            "move_pv":"","mirror_log":"","copy_percent":"","convert_lv":""}]}]}"#;
        let report: LvsReport = read_lvm_report(lvs).unwrap();
        assert_eq!(report.report[0].lv[0].lv_attr, "twi-aotz--");
        let pvs: PvsReport = read_lvm_report(r#"{"report":[{"pv":[]}]}"#).unwrap();
        assert_eq!(
            serde_json::to_value(&pvs).unwrap(),
            serde_json::json!({"report": [{"pv": null}]})
        );
        assert!(read_lvm_report::<PvSection>("WARNING: not json").is_err());
    }

    #[test]
    fn mount_status_marks_the_fstab_lines_whose_device_is_mounted() {
        // brick_3 is mounted under another name of its device.
        let mount = "/dev/sda1 on / type ext4 (rw)\n/dev/mapper/vg_d-brick_1 on /var/lib/heketi/mounts/vg_d/brick_1 type xfs (rw)\n/dev/loop7 on /var/lib/heketi/mounts/vg_d/brick_3 type xfs (rw)\n";
        let fstab = "# static\nUUID=1 / ext4 defaults 0 1\n\n/dev/mapper/vg_d-brick_1 /var/lib/heketi/mounts/vg_d/brick_1 xfs rw,inode64 1 2\n/dev/mapper/vg_d-brick_2 /var/lib/heketi/mounts/vg_d/brick_2 xfs rw 1 2\nshort line\n/dev/mapper/vg_d-brick_3 /var/lib/heketi/mounts/vg_d/brick_3 xfs rw 1 2\n";
        let status = read_mount_status(mount, fstab);
        let seen: Vec<(&str, bool)> = status
            .statuses
            .iter()
            .map(|s| (s.mount_point.as_str(), s.mounted))
            .collect();
        assert_eq!(
            seen,
            [
                ("/", true),
                ("/var/lib/heketi/mounts/vg_d/brick_1", true),
                ("/var/lib/heketi/mounts/vg_d/brick_2", false),
                ("/var/lib/heketi/mounts/vg_d/brick_3", true)
            ]
        );
        assert_eq!(status.statuses[1].mount_options, "rw,inode64");
        let json = serde_json::to_value(&status).unwrap();
        assert_eq!(json["Statuses"][1]["MountPoint"], "/var/lib/heketi/mounts/vg_d/brick_1");
        assert_eq!(json["Statuses"][1]["Type"], "xfs");
        assert_eq!(
            serde_json::to_value(BricksMountStatus::default()).unwrap(),
            serde_json::json!({"Statuses": null})
        );
    }
}
