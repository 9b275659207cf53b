//! StorageClass parameters, as the in-tree `kubernetes.io/glusterfs`
//! provisioner read them (keys compared lower-cased; any unknown key is
//! refused), so moving a StorageClass to this driver means changing its
//! `provisioner:` and little else. Keys under `csi.storage.k8s.io/` are the
//! sidecars' own and are passed over.

use std::collections::HashMap;

/// A parameter that cannot be used; the text names it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParamError(pub String);

/// The layout asked for (`volumetype`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VolumeType {
    Replicate(i64),
    Disperse { data: i64, redundancy: i64 },
    None,
}

/// Everything a `CreateVolume` takes from its parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct Params {
    pub rest_url: Option<String>,
    pub rest_auth: bool,
    pub rest_user: Option<String>,
    pub rest_key: Option<String>,
    /// `secretName`/`secretNamespace`: both or neither. The secret itself
    /// reaches the driver as the request's CSI secrets.
    pub secret_ref: Option<(String, String)>,
    pub clusters: Vec<String>,
    pub gid_min: i64,
    pub gid_max: i64,
    pub volume_type: VolumeType,
    pub volume_options: Vec<String>,
    pub name_prefix: Option<String>,
    pub snap_factor: f32,
    /// `csi.storage.k8s.io/pvc/name` and `.../pvc/namespace`, given with the
    /// provisioner's `--extra-create-metadata`.
    pub pvc: Option<(String, String)>,
}

pub const GID_MIN: i64 = 2000;
pub const GID_MAX: i64 = i32::MAX as i64;

impl Params {
    pub fn parse(raw: &HashMap<String, String>) -> Result<Params, ParamError> {
        let mut p = Params {
            rest_url: None,
            rest_auth: true,
            rest_user: None,
            rest_key: None,
            secret_ref: None,
            clusters: Vec::new(),
            gid_min: GID_MIN,
            gid_max: GID_MAX,
            volume_type: VolumeType::Replicate(3),
            volume_options: Vec::new(),
            name_prefix: None,
            snap_factor: 1.0,
            pvc: None,
        };
        let (mut secret_name, mut secret_namespace) = (None, None);
        let (mut pvc_name, mut pvc_namespace) = (None, None);
        // Sorted, so the same bad parameters always name the same one first.
        let mut keys: Vec<&String> = raw.keys().collect();
        keys.sort();
        for key in keys {
            let value = &raw[key];
            match key.to_lowercase().as_str() {
                "resturl" => p.rest_url = Some(value.trim_end_matches('/').to_string()),
                "restauthenabled" => p.rest_auth = value.eq_ignore_ascii_case("true"),
                "restuser" => p.rest_user = Some(value.clone()),
                "restuserkey" => p.rest_key = Some(value.clone()),
                "secretname" => secret_name = Some(value.clone()),
                "secretnamespace" => secret_namespace = Some(value.clone()),
                "clusterid" => {
                    p.clusters = value
                        .split(',')
                        .map(str::trim)
                        .filter(|c| !c.is_empty())
                        .map(str::to_string)
                        .collect();
                    if let Some(bad) = p.clusters.iter().find(|c| !is_hex_id(c)) {
                        return Err(ParamError(format!("clusterid: {bad:?} is not a cluster id")));
                    }
                }
                "gidmin" => p.gid_min = gid(key, value)?,
                "gidmax" => p.gid_max = gid(key, value)?,
                "volumetype" => p.volume_type = volume_type(value)?,
                "volumeoptions" => {
                    p.volume_options = value.split(',').map(str::to_string).collect();
                }
                "volumenameprefix" => {
                    if value.contains('_') || !is_name(value) {
                        return Err(ParamError(format!(
                            "volumenameprefix: {value:?} must be letters, digits and '-' only (no '_')"
                        )));
                    }
                    p.name_prefix = Some(value.clone()).filter(|v| !v.is_empty());
                }
                "snapfactor" => {
                    let factor: f32 = value
                        .parse()
                        .map_err(|_| ParamError(format!("snapfactor: {value:?} is not a number")))?;
                    if !(1.0..=100.0).contains(&factor) {
                        return Err(ParamError(format!("snapfactor: {value} is not between 1 and 100")));
                    }
                    p.snap_factor = factor;
                }
                // The in-tree provisioner's Endpoints name; nothing to name here.
                "customepnameprefix" => {}
                "csi.storage.k8s.io/pvc/name" => pvc_name = Some(value.clone()),
                "csi.storage.k8s.io/pvc/namespace" => pvc_namespace = Some(value.clone()),
                other if other.starts_with("csi.storage.k8s.io/") => {}
                _ => {
                    return Err(ParamError(format!(
                        "invalid option {key:?} for the Brickyard CSI driver"
                    )))
                }
            }
        }
        p.secret_ref = match (secret_name, secret_namespace) {
            (Some(n), Some(ns)) => Some((n, ns)),
            (None, None) => None,
            _ => {
                return Err(ParamError(
                    "secretName and secretNamespace must be given together".into(),
                ))
            }
        };
        if let (Some(name), Some(namespace)) = (pvc_name, pvc_namespace) {
            p.pvc = Some((namespace, name));
        }
        if p.gid_min > p.gid_max {
            return Err(ParamError(format!(
                "gidMin ({}) is greater than gidMax ({})",
                p.gid_min, p.gid_max
            )));
        }
        if !p.rest_auth {
            p.rest_user = None;
            p.rest_key = None;
        }
        Ok(p)
    }
}

fn is_hex_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= 32 && s.chars().all(|c| c.is_ascii_hexdigit())
}

/// Heketi's volume name characters.
pub fn is_name(s: &str) -> bool {
    s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn gid(key: &str, value: &str) -> Result<i64, ParamError> {
    let n: i64 = value
        .parse()
        .map_err(|_| ParamError(format!("{key}: {value:?} is not a number")))?;
    if !(GID_MIN..=GID_MAX).contains(&n) {
        return Err(ParamError(format!("{key}: {n} is not between {GID_MIN} and {GID_MAX}")));
    }
    Ok(n)
}

/// `replicate:N` (N defaults to 3), `disperse:D:R`, `none` (the rest ignored).
fn volume_type(value: &str) -> Result<VolumeType, ParamError> {
    let bad = || {
        ParamError(format!(
            "volumetype: {value:?} is not replicate:N, disperse:DATA:REDUNDANCY or none"
        ))
    };
    let parts: Vec<&str> = value.split(':').collect();
    match parts.as_slice() {
        ["replicate"] => Ok(VolumeType::Replicate(3)),
        ["replicate", n] => Ok(VolumeType::Replicate(n.parse().map_err(|_| bad())?)),
        ["disperse", d, r] => Ok(VolumeType::Disperse {
            data: d.parse().map_err(|_| bad())?,
            redundancy: r.parse().map_err(|_| bad())?,
        }),
        ["none", ..] => Ok(VolumeType::None),
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(pairs: &[(&str, &str)]) -> Result<Params, ParamError> {
        Params::parse(&pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
    }

    #[test]
    fn the_in_tree_parameters_are_read_as_the_provisioner_read_them() {
        let p = parse(&[
            ("restUrl", "http://heketi:8080/"),
            ("restuser", "admin"),
            ("restuserkey", "k"),
            ("clusterid", "aa11, bb22"),
            ("gidMin", "40000"),
            ("gidMax", "50000"),
            ("volumetype", "disperse:4:2"),
            ("volumeoptions", "client.ssl on, server.ssl on"),
            ("volumenameprefix", "dept-a"),
            ("snapfactor", "10"),
            ("customepnameprefix", "x"),
            ("csi.storage.k8s.io/pvc/name", "claim"),
            ("csi.storage.k8s.io/pvc/namespace", "ns"),
            ("csi.storage.k8s.io/provisioner-secret-name", "s"),
        ])
        .unwrap();
        assert_eq!(p.rest_url.as_deref(), Some("http://heketi:8080"));
        assert_eq!(p.clusters, ["aa11", "bb22"]);
        assert_eq!((p.gid_min, p.gid_max), (40000, 50000));
        assert_eq!(p.volume_type, VolumeType::Disperse { data: 4, redundancy: 2 });
        // Untrimmed, as the in-tree provisioner passed them.
        assert_eq!(p.volume_options, ["client.ssl on", " server.ssl on"]);
        assert_eq!(p.name_prefix.as_deref(), Some("dept-a"));
        assert!((p.snap_factor - 10.0).abs() < f32::EPSILON);
        assert_eq!(p.pvc, Some(("ns".into(), "claim".into())));
        assert_eq!(parse(&[]).unwrap().volume_type, VolumeType::Replicate(3));
        assert_eq!(
            parse(&[("volumetype", "replicate")]).unwrap().volume_type,
            VolumeType::Replicate(3)
        );
        assert_eq!(
            parse(&[("volumetype", "none:1")]).unwrap().volume_type,
            VolumeType::None
        );
        let off = parse(&[("restauthenabled", "no"), ("restuser", "admin"), ("restuserkey", "k")]).unwrap();
        assert_eq!((off.rest_auth, off.rest_user, off.rest_key), (false, None, None));
    }

    #[test]
    fn each_bad_value_names_its_parameter() {
        for (pairs, named) in [
            (vec![("bogus", "1")], "\"bogus\""),
            (vec![("gidMin", "12")], "gidMin"),
            (vec![("gidmax", "x")], "gidmax"),
            (vec![("gidMin", "3000"), ("gidMax", "2500")], "gidMin (3000)"),
            (vec![("volumetype", "mirror:2")], "volumetype"),
            (vec![("volumetype", "disperse:4")], "volumetype"),
            (vec![("volumetype", "replicate:x")], "volumetype"),
            (vec![("volumenameprefix", "a_b")], "volumenameprefix"),
            (vec![("volumenameprefix", "a b")], "volumenameprefix"),
            (vec![("snapfactor", "0.5")], "snapfactor"),
            (vec![("snapfactor", "many")], "snapfactor"),
            (vec![("secretName", "s")], "secretName and secretNamespace"),
            (vec![("clusterid", "not-an-id")], "clusterid"),
        ] {
            let e = parse(&pairs).unwrap_err();
            assert!(e.0.contains(named), "{pairs:?}: {e}");
        }
    }
}
