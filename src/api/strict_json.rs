//! JSON decoding with the two refusals Go's `encoding/json` makes and serde
//! does not: an array where an object (a struct or map) belongs, which
//! serde would read field by field in declaration order; and, for a key
//! given twice in one object, an earlier value of the wrong type. Go
//! decodes every occurrence into the field, so the last one wins but each
//! must fit; serde would look at the last only.

use std::fmt;

use serde::de::value::BorrowedStrDeserializer;
use serde::de::{self, DeserializeOwned, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Unexpected, Visitor};
use serde::forward_to_deserialize_any;
use serde_json::{Map, Number, Value};

/// A body that is not JSON, or not JSON `T` takes. The texts are serde's.
#[derive(Debug, thiserror::Error)]
pub enum JsonError {
    #[error("{0}")]
    Syntax(#[source] serde_json::Error),
    #[error("a repeated key's earlier value: {0}")]
    EarlierValue(#[source] serde_json::Error),
    #[error("{0}")]
    Value(#[source] serde_json::Error),
}

/// A parsed document: its value (the last occurrence of a repeated key
/// wins) and, for each earlier occurrence, the document as it would read
/// with that occurrence instead, so its type is checked too.
pub struct Document {
    pub value: Value,
    variants: Vec<Value>,
}

/// Parses a document, keeping every occurrence of a repeated key.
pub fn parse(bytes: &[u8]) -> Result<Document, JsonError> {
    let node = serde_json::from_slice::<Node>(bytes).map_err(JsonError::Syntax)?;
    Ok(Document {
        value: node.last(),
        variants: node.variants(),
    })
}

/// Builds `T` from a document, refusing an array where `T` (or a struct or
/// map inside it) expects an object, and an earlier occurrence of a
/// repeated key that `T` could not take.
pub fn from_document<T: DeserializeOwned>(doc: &Document) -> Result<T, JsonError> {
    for variant in &doc.variants {
        T::deserialize(Strict(variant)).map_err(JsonError::EarlierValue)?;
    }
    T::deserialize(Strict(&doc.value)).map_err(JsonError::Value)
}

/// A JSON value with every occurrence of every key.
enum Node {
    Leaf(Value),
    Array(Vec<Node>),
    Object(Vec<(String, Node)>),
}

impl Node {
    /// The value Go's decoder sees last: each key's last occurrence.
    fn last(&self) -> Value {
        match self {
            Node::Leaf(v) => v.clone(),
            Node::Array(items) => Value::Array(items.iter().map(Node::last).collect()),
            Node::Object(pairs) => {
                let mut map = Map::new();
                for (k, v) in pairs {
                    map.insert(k.clone(), v.last());
                }
                Value::Object(map)
            }
        }
    }

    /// The document with one earlier occurrence (at any depth) in place of
    /// the last, once for every earlier occurrence there is.
    fn variants(&self) -> Vec<Value> {
        match self {
            Node::Leaf(_) => Vec::new(),
            Node::Array(items) => {
                let base: Vec<Value> = items.iter().map(Node::last).collect();
                let mut out = Vec::new();
                for (i, item) in items.iter().enumerate() {
                    for v in item.variants() {
                        let mut doc = base.clone();
                        doc[i] = v;
                        out.push(Value::Array(doc));
                    }
                }
                out
            }
            Node::Object(pairs) => {
                let base = self.last();
                let mut out = Vec::new();
                for (i, (key, node)) in pairs.iter().enumerate() {
                    let shadowed = pairs[i + 1..].iter().any(|(k, _)| k == key);
                    let mut choices = node.variants();
                    if shadowed {
                        choices.push(node.last());
                    }
                    for v in choices {
                        let mut doc = base.clone();
                        doc[key.as_str()] = v;
                        out.push(doc);
                    }
                }
                out
            }
        }
    }
}

impl<'de> de::Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Leaf(Value::Bool(v)))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Node, E> {
        Ok(Node::Leaf(Value::Number(v.into())))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Node, E> {
        Ok(Node::Leaf(Value::Number(v.into())))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Node, E> {
        Number::from_f64(v)
            .map(|n| Node::Leaf(Value::Number(n)))
            .ok_or_else(|| E::custom("number out of range"))
    }
    fn visit_str<E>(self, v: &str) -> Result<Node, E> {
        Ok(Node::Leaf(Value::String(v.to_string())))
    }
    fn visit_string<E>(self, v: String) -> Result<Node, E> {
        Ok(Node::Leaf(Value::String(v)))
    }
    fn visit_unit<E>(self) -> Result<Node, E> {
        Ok(Node::Leaf(Value::Null))
    }
    fn visit_none<E>(self) -> Result<Node, E> {
        Ok(Node::Leaf(Value::Null))
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(node) = seq.next_element()? {
            items.push(node);
        }
        Ok(Node::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut pairs = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            pairs.push((key, map.next_value()?));
        }
        Ok(Node::Object(pairs))
    }
}

/// A parsed value read the way Go reads it into a typed destination.
struct Strict<'a>(&'a Value);

fn unexpected(value: &Value) -> Unexpected<'_> {
    match value {
        Value::Null => Unexpected::Unit,
        Value::Bool(b) => Unexpected::Bool(*b),
        Value::Number(_) => Unexpected::Other("number"),
        Value::String(s) => Unexpected::Str(s),
        Value::Array(_) => Unexpected::Seq,
        Value::Object(_) => Unexpected::Map,
    }
}

impl<'de> Deserializer<'de> for Strict<'de> {
    type Error = serde_json::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Array(items) => visitor.visit_seq(Seq(items.iter())),
            Value::Object(map) => visitor.visit_map(Entries {
                iter: map.iter(),
                value: None,
            }),
            scalar => scalar.deserialize_any(visitor),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.deserialize_map(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Object(_) => self.deserialize_any(visitor),
            other => Err(de::Error::invalid_type(unexpected(other), &visitor)),
        }
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Array(_) => self.deserialize_any(visitor),
            other => Err(de::Error::invalid_type(unexpected(other), &visitor)),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, Self::Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.0.deserialize_enum(name, variants, visitor)
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        self.0.deserialize_unit(visitor)
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(self, name: &'static str, visitor: V) -> Result<V::Value, Self::Error> {
        self.0.deserialize_unit_struct(name, visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_unit()
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf identifier
    }
}

struct Seq<'a>(std::slice::Iter<'a, Value>);

impl<'de> SeqAccess<'de> for Seq<'de> {
    type Error = serde_json::Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, Self::Error> {
        self.0.next().map(|v| seed.deserialize(Strict(v))).transpose()
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.0.len())
    }
}

struct Entries<'a> {
    iter: serde_json::map::Iter<'a>,
    value: Option<&'a Value>,
}

impl<'de> MapAccess<'de> for Entries<'de> {
    type Error = serde_json::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, Self::Error> {
        let Some((key, value)) = self.iter.next() else {
            return Ok(None);
        };
        self.value = Some(value);
        seed.deserialize(BorrowedStrDeserializer::new(key)).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Self::Error> {
        match self.value.take() {
            Some(value) => seed.deserialize(Strict(value)),
            None => Err(de::Error::custom("value requested before its key")),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.iter.len())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::Deserialize;

    use super::*;

    #[derive(Deserialize, Debug, PartialEq)]
    struct Flags {
        block: bool,
        file: bool,
    }

    fn decode<T: DeserializeOwned>(json: &[u8]) -> Result<T, JsonError> {
        from_document(&parse(json).unwrap())
    }

    #[test]
    fn objects_decode_and_arrays_do_not_stand_in_for_them() {
        let ok: Flags = decode(br#"{"file":true,"block":false}"#).unwrap();
        assert_eq!(
            ok,
            Flags {
                block: false,
                file: true
            }
        );
        assert!(decode::<Flags>(b"[true,true]").is_err());
        assert!(decode::<BTreeMap<String, String>>(br#"[["a","b"]]"#).is_err());
        let list: Vec<u8> = decode(b"[1,2]").unwrap();
        assert_eq!(list, [1, 2]);
        assert!(decode::<Vec<u8>>(br#"{"0":1}"#).is_err());
    }

    #[test]
    fn repeated_keys_follow_go_the_last_wins_and_each_must_fit() {
        let last: Flags = decode(br#"{"file":true,"block":true,"file":false}"#).unwrap();
        assert_eq!(
            last,
            Flags {
                block: true,
                file: false
            }
        );
        assert!(decode::<Flags>(br#"{"file":"yes","block":true,"file":true}"#).is_err());
        assert!(decode::<Vec<Flags>>(br#"[{"file":true,"block":true},{"block":1,"file":true,"block":true}]"#).is_err());
        assert!(decode::<BTreeMap<String, Flags>>(br#"{"a":{"file":true,"block":true},"a":[]}"#).is_err());
    }

    #[test]
    fn scalars_keep_their_types() {
        assert!(decode::<u8>(b"300").is_err());
        assert!(decode::<i64>(b"1.5").is_err());
        assert!(decode::<String>(b"1").is_err());
        assert_eq!(decode::<Option<i64>>(b"null").unwrap(), None);
        assert_eq!(decode::<f64>(b"2.5").unwrap(), 2.5);
    }
}
