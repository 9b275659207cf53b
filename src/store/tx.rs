//! Transactions: point reads and writes, links, counts and indexes, all
//! inside one backend transaction over every tree.

use super::backend::TxOps;
use super::*;

/// A view of every tree inside one transaction. It offers point reads and
/// writes only: backends read inside a transaction by key (and a plain read
/// of the store from inside one may deadlock), so listings happen outside.
pub struct Tx<'a> {
    pub(super) ops: &'a dyn TxOps,
}

impl<'a> Tx<'a> {
    fn raw_get<E>(&self, tree: TreeName, key: &[u8]) -> Result<Option<Vec<u8>>, Abort<E>> {
        Ok(self.ops.get(tree, key)?)
    }

    pub fn get<R: Record, E>(&self, id: &str) -> Result<Option<R>, Abort<E>> {
        match self.raw_get(R::TREE, id.as_bytes())? {
            None => Ok(None),
            Some(raw) => Ok(Some(decode(R::TREE, id.as_bytes(), &raw)?)),
        }
    }

    pub fn put<R: Record, E>(&self, record: &R) -> Result<(), Abort<E>> {
        self.ops.put(R::TREE, record.id().as_bytes(), &encode(record))?;
        Ok(())
    }

    pub fn remove<R: Record, E>(&self, id: &str) -> Result<(), Abort<E>> {
        self.ops.remove(R::TREE, id.as_bytes())?;
        Ok(())
    }

    fn add_count<E>(&self, relation: TreeName, parent: &str, delta: i64) -> Result<(), Abort<E>> {
        let key = count_key(relation, parent);
        let current = decode_count(self.raw_get(TreeName::Counts, &key)?);
        let next = current.saturating_add_signed(delta);
        if next == 0 {
            self.ops.remove(TreeName::Counts, &key)?;
        } else {
            self.ops.put(TreeName::Counts, &key, &next.to_be_bytes())?;
        }
        Ok(())
    }

    /// Records `child` under `parent`; linking twice is harmless.
    pub fn link<E>(&self, relation: TreeName, parent: &str, child: &str) -> Result<(), Abort<E>> {
        let key = relation_key(parent, child);
        if self.raw_get(relation, &key)?.is_none() {
            self.ops.put(relation, &key, &[])?;
            self.add_count(relation, parent, 1)?;
        }
        Ok(())
    }

    pub fn unlink<E>(&self, relation: TreeName, parent: &str, child: &str) -> Result<(), Abort<E>> {
        let key = relation_key(parent, child);
        if self.raw_get(relation, &key)?.is_some() {
            self.ops.remove(relation, &key)?;
            self.add_count(relation, parent, -1)?;
        }
        Ok(())
    }

    pub fn has_children<E>(&self, relation: TreeName, parent: &str) -> Result<bool, Abort<E>> {
        Ok(self.child_count(relation, parent)? > 0)
    }

    pub fn child_count<E>(&self, relation: TreeName, parent: &str) -> Result<u64, Abort<E>> {
        Ok(decode_count(
            self.raw_get(TreeName::Counts, &count_key(relation, parent))?,
        ))
    }

    pub fn index_get<E>(&self, index: TreeName, key: &str) -> Result<Option<String>, Abort<E>> {
        Ok(self
            .raw_get(index, key.as_bytes())?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    pub fn index_put<E>(&self, index: TreeName, key: &str, id: &str) -> Result<(), Abort<E>> {
        self.ops.put(index, key.as_bytes(), id.as_bytes())?;
        Ok(())
    }

    pub fn index_remove<E>(&self, index: TreeName, key: &str) -> Result<(), Abort<E>> {
        self.ops.remove(index, key.as_bytes())?;
        Ok(())
    }
}

/// Makes `Abort::User` from any error, for `?` inside transaction bodies.
pub fn abort<T, E>(e: E) -> Result<T, Abort<E>> {
    Err(Abort::User(e))
}
