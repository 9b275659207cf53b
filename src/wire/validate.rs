//! Heketi's validation rules and its message format (ozzo-validation's):
//! `field: reason; other: reason.`, keys sorted, nested objects in `( )`.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::LazyLock;

use regex::Regex;

use crate::ids::is_full_id;
use crate::store::records::Tags;

use super::{BrickEvictRequest, DeviceAddRequest, NodeAddRequest, StateRequest, TagsChangeRequest};

#[derive(Debug, Clone, PartialEq)]
pub enum Violation {
    Reason(String),
    Nested(Violations),
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Violations(BTreeMap<String, Violation>);

impl Violations {
    pub fn add(&mut self, field: &str, reason: impl Into<String>) {
        self.0.insert(field.to_string(), Violation::Reason(reason.into()));
    }
    pub fn nest(&mut self, field: &str, inner: Violations) {
        if !inner.0.is_empty() {
            self.0.insert(field.to_string(), Violation::Nested(inner));
        }
    }
    pub fn into_result(self) -> Result<(), Violations> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(self)
        }
    }
}

impl fmt::Display for Violations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (field, v)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            match v {
                Violation::Reason(r) => write!(f, "{field}: {r}")?,
                Violation::Nested(inner) => write!(f, "{field}: ({inner})")?,
            }
        }
        f.write_str(".")
    }
}

pub const BLANK: &str = "cannot be blank";

/// Length limits on what clients send, where Heketi had none.
pub mod limits {
    /// GlusterFS refuses volume names of 256 characters or more.
    pub const VOLUME_NAME: usize = 255;
    /// Linux's `PATH_MAX`, less its terminating NUL.
    pub const DEVICE_NAME: usize = 4095;
    pub const VOLUME_OPTIONS: usize = 256;
    pub const VOLUME_OPTION: usize = 4096;
    /// Ids are 32 hex digits; longer ones are refused before any lookup.
    pub const ID: usize = 64;
    /// DNS's limit on a name.
    pub const HOSTNAME: usize = 255;
    pub const HOSTNAMES: usize = 64;
}

static DNS_NAME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^([a-zA-Z0-9_][a-zA-Z0-9_-]{0,62})(\.[a-zA-Z0-9_][a-zA-Z0-9_-]{0,62})*[._]?$").expect("static pattern")
});
static DEVICE_NAME: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^/[a-zA-Z0-9_.:/-]+$").expect("static pattern"));
static TAG_NAME: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^[a-zA-Z0-9_.-]+$").expect("static pattern"));

/// An IP address or a DNS host name (govalidator's `IsHost`).
pub fn is_host(value: &str) -> bool {
    value.parse::<IpAddr>().is_ok() || (value.replace('.', "").len() <= 255 && DNS_NAME.is_match(value))
}

pub fn is_device_name(value: &str) -> bool {
    DEVICE_NAME.is_match(value)
}

/// Go's `%v` of a string slice: `[a b c]`.
fn go_list(items: &[String]) -> String {
    format!("[{}]", items.join(" "))
}

/// Heketi's tag rules; the first broken rule is the reason.
pub fn tags_problem(tags: &Tags) -> Option<String> {
    if tags.len() > 32 {
        return Some(format!("too many tags specified ({}), up to 32 supported", tags.len()));
    }
    for (k, v) in tags {
        if k.is_empty() {
            return Some("tag names may not be empty".into());
        }
        if k.chars().count() > 32 {
            return Some(format!("tag name {k}: the length must be between 1 and 32"));
        }
        if v.chars().count() > 64 {
            return Some(format!("value of tag {k}: the length must be no more than 64"));
        }
        if !TAG_NAME.is_match(k) {
            return Some(format!("invalid characters in tag name {k}"));
        }
    }
    None
}

fn check_tags(v: &mut Violations, tags: &Tags) {
    if let Some(reason) = tags_problem(tags) {
        v.add("tags", reason);
    }
}

fn check_uuid(v: &mut Violations, field: &str, value: &str) {
    if value.is_empty() {
        v.add(field, BLANK);
    } else if value.len() > limits::ID {
        v.add(field, format!("the length must be no more than {}", limits::ID));
    } else if !is_full_id(value) {
        v.add(field, format!("{value} is not a valid UUID"));
    }
}

impl NodeAddRequest {
    pub fn validate(&self) -> Result<(), Violations> {
        let mut v = Violations::default();
        if self.zone == 0 {
            v.add("zone", BLANK);
        } else if self.zone < 1 {
            v.add("zone", "must be no less than 1");
        }
        let mut hosts = Violations::default();
        for (field, list, role) in [
            ("manage", &self.hostnames.manage, "manage"),
            ("storage", &self.hostnames.storage, "storage"),
        ] {
            if list.is_empty() {
                hosts.add(field, BLANK);
            } else if list.len() > limits::HOSTNAMES || list.iter().any(|h| h.len() > limits::HOSTNAME) {
                hosts.add(
                    field,
                    format!(
                        "at most {} hostnames of at most {} characters each",
                        limits::HOSTNAMES,
                        limits::HOSTNAME
                    ),
                );
            } else if list.iter().any(|h| h.is_empty() || !is_host(h)) {
                hosts.add(field, format!("{} is not a valid {role} hostname", go_list(list)));
            }
        }
        v.nest("hostnames", hosts);
        check_uuid(&mut v, "cluster", &self.cluster);
        check_tags(&mut v, &self.tags);
        v.into_result()
    }
}

impl DeviceAddRequest {
    pub fn validate(&self) -> Result<(), Violations> {
        let mut v = Violations::default();
        if self.name.is_empty() {
            v.add("name", BLANK);
        } else if self.name.len() > limits::DEVICE_NAME {
            v.add(
                "name",
                format!("the length must be no more than {}", limits::DEVICE_NAME),
            );
        } else if !is_device_name(&self.name) {
            v.add("name", "must be in a valid format");
        }
        check_tags(&mut v, &self.tags);
        check_uuid(&mut v, "node", &self.node);
        v.into_result()
    }
}

impl StateRequest {
    pub fn validate(&self) -> Result<(), Violations> {
        let mut v = Violations::default();
        match self.state.as_str() {
            "" => v.add("state", BLANK),
            "online" | "offline" | "failed" => {}
            other => v.add("state", format!("{other} is not valid state")),
        }
        if !matches!(self.healcheck.as_str(), "" | "enable" | "disable") {
            v.add("healcheck", format!("{} is not valid heal info check", self.healcheck));
        }
        v.into_result()
    }
}

impl BrickEvictRequest {
    pub fn validate(&self) -> Result<(), Violations> {
        let mut v = Violations::default();
        if !matches!(self.healcheck.as_str(), "" | "enable" | "disable") {
            v.add("healcheck", format!("{} is not valid heal info check", self.healcheck));
        }
        v.into_result()
    }
}

impl TagsChangeRequest {
    pub fn validate(&self) -> Result<(), Violations> {
        let mut v = Violations::default();
        check_tags(&mut v, &self.tags);
        match self.change_type.as_str() {
            "" => v.add("change_type", BLANK),
            "set" | "update" | "delete" => {}
            _ => v.add("change_type", "must be a valid value"),
        }
        v.into_result()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::HostAddresses;

    #[test]
    fn messages_follow_ozzo_format() {
        let req = NodeAddRequest::default();
        let err = req.validate().unwrap_err().to_string();
        assert_eq!(
            err,
            "cluster: cannot be blank; hostnames: (manage: cannot be blank; storage: cannot be blank.); zone: cannot be blank."
        );
    }

    #[test]
    fn node_fields_are_checked() {
        let req = NodeAddRequest {
            zone: -1,
            hostnames: HostAddresses {
                manage: vec!["node1".into(), "bad host;rm -rf /".into()],
                storage: vec!["10.0.0.1".into()],
            },
            cluster: "bad_id".into(),
            tags: Tags::default(),
        };
        assert_eq!(
            req.validate().unwrap_err().to_string(),
            "cluster: bad_id is not a valid UUID; hostnames: (manage: [node1 bad host;rm -rf /] is not a valid manage hostname.); zone: must be no less than 1."
        );
    }

    #[test]
    fn over_long_values_are_refused_without_being_echoed() {
        let long = "a".repeat(1 << 20);
        let req = NodeAddRequest {
            zone: 1,
            hostnames: HostAddresses {
                manage: vec![long.clone()],
                storage: vec!["10.0.0.1".into()],
            },
            cluster: long.clone(),
            tags: Tags::default(),
        };
        let err = req.validate().unwrap_err().to_string();
        assert_eq!(
            err,
            "cluster: the length must be no more than 64; hostnames: (manage: at most 64 hostnames of at most 255 characters each.)."
        );
        let device = DeviceAddRequest {
            name: format!("/dev/{long}"),
            node: "0".repeat(32),
            ..DeviceAddRequest::default()
        };
        assert_eq!(
            device.validate().unwrap_err().to_string(),
            "name: the length must be no more than 4095."
        );
    }

    #[test]
    fn hosts_accept_names_and_ips_only() {
        for ok in ["node1.example.com", "10.0.0.1", "::1", "node_1", "a-b.c"] {
            assert!(is_host(ok), "{ok}");
        }
        for bad in ["", "-a", "a b", "$(reboot)", "a;b", "node1.example.com/x", "'q'"] {
            assert!(!is_host(bad), "{bad}");
        }
    }

    #[test]
    fn device_names_and_tags() {
        assert!(is_device_name("/dev/disk/by-id/wwn-0x5000:1"));
        for bad in ["dev/sdb", "/dev/sdb; reboot", "/dev/$(x)", "/dev/sd b", "/dev/'a'"] {
            assert!(!is_device_name(bad), "{bad}");
        }
        let mut many = Tags::new();
        for i in 0..33 {
            many.insert(format!("k{i}"), "v".into());
        }
        assert_eq!(
            tags_problem(&many).unwrap(),
            "too many tags specified (33), up to 32 supported"
        );
        let bad: Tags = [("$! W ~~~".to_string(), "x".to_string())].into();
        assert_eq!(tags_problem(&bad).unwrap(), "invalid characters in tag name $! W ~~~");
        let empty: Tags = [(String::new(), "x".to_string())].into();
        assert_eq!(tags_problem(&empty).unwrap(), "tag names may not be empty");
    }

    #[test]
    fn state_and_tag_requests() {
        let s = StateRequest {
            state: "sleeping".into(),
            healcheck: "maybe".into(),
        };
        assert_eq!(
            s.validate().unwrap_err().to_string(),
            "healcheck: maybe is not valid heal info check; state: sleeping is not valid state."
        );
        let t = TagsChangeRequest {
            change_type: "merge".into(),
            tags: Tags::new(),
        };
        assert_eq!(
            t.validate().unwrap_err().to_string(),
            "change_type: must be a valid value."
        );
    }
}
