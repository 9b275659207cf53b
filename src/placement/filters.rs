//! Device filters: strict zones and tag matching.

use std::sync::LazyLock;

use regex::Regex;

use crate::store::records::Tags;

/// `user.heketi.device-tag-match` rule: `key=value` or `key!=value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagRule {
    pub key: String,
    pub value: String,
    pub negate: bool,
}

// Heketi's pattern; `.-_` is a character range from `.` to `_` there, kept
// as is so the same rules parse the same way.
static RULE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^([a-zA-Z0-9.-_]+)(!?=)([a-zA-Z0-9.-_]+)$").expect("static pattern"));

/// A `device-tag-match` option that is not a rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Invalid tag matching rule: {0}")]
pub struct InvalidTagRule(pub String);

impl TagRule {
    pub fn parse(rule: &str) -> Result<TagRule, InvalidTagRule> {
        let caps = RULE.captures(rule).ok_or_else(|| InvalidTagRule(rule.to_string()))?;
        Ok(TagRule {
            key: caps[1].to_string(),
            negate: &caps[2] == "!=",
            value: caps[3].to_string(),
        })
    }

    /// A missing tag counts as the empty string (so it passes `!=`).
    pub fn matches(&self, tags: &Tags) -> bool {
        let actual = tags.get(&self.key).map(String::as_str).unwrap_or("");
        (actual == self.value) != self.negate
    }
}

impl std::fmt::Display for TagRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}{}{}", self.key, if self.negate { "!=" } else { "=" }, self.value)
    }
}

/// Node tags overlaid by device tags.
pub fn merged(node: &Tags, device: &Tags) -> Tags {
    let mut out = node.clone();
    out.extend(device.iter().map(|(k, v)| (k.clone(), v.clone())));
    out
}

/// What a device may hold in an arbiter volume (its merged `arbiter` tag).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArbiterRole {
    /// `required`: arbiter bricks only.
    ArbiterOnly,
    /// `disabled`: data bricks only.
    DataOnly,
    /// `supported`, missing or anything else.
    Both,
}

pub fn arbiter_role(tags: &Tags) -> ArbiterRole {
    match tags.get("arbiter").map(String::as_str) {
        Some("required") => ArbiterRole::ArbiterOnly,
        Some("disabled") => ArbiterRole::DataOnly,
        _ => ArbiterRole::Both,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(pairs: &[(&str, &str)]) -> Tags {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn rules_parse_and_match() {
        let r = TagRule::parse("tier=gold").unwrap();
        assert!(r.matches(&tags(&[("tier", "gold")])));
        assert!(!r.matches(&tags(&[("tier", "silver")])));
        assert!(!r.matches(&tags(&[])));
        let n = TagRule::parse("tier!=gold").unwrap();
        assert!(n.matches(&tags(&[])));
        assert!(!n.matches(&tags(&[("tier", "gold")])));
        // Heketi's character range admits `=` in keys: `a=b=c` is key `a=b`.
        let odd = TagRule::parse("a=b=c").unwrap();
        assert_eq!((odd.key.as_str(), odd.value.as_str()), ("a=b", "c"));
        assert!(TagRule::parse("no rule").is_err());
        assert!(TagRule::parse("k=").is_err());
    }

    #[test]
    fn device_tags_win_and_arbiter_roles() {
        let m = merged(
            &tags(&[("arbiter", "required"), ("rack", "1")]),
            &tags(&[("arbiter", "disabled")]),
        );
        assert_eq!(arbiter_role(&m), ArbiterRole::DataOnly);
        assert_eq!(m["rack"], "1");
        assert_eq!(arbiter_role(&tags(&[("arbiter", "odd")])), ArbiterRole::Both);
    }
}
