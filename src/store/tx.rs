//! Transactions: point reads and writes, links, counts and indexes, all
//! inside one sled transaction over every tree.

use sled::transaction::TransactionalTree;

use super::*;

/// A view of every tree inside one transaction. It offers point reads and
/// writes only: sled cannot scan inside a transaction (and a plain read of
/// the store from inside one would deadlock), so listings happen outside.
pub struct Tx<'a> {
    pub(super) views: &'a [TransactionalTree],
}

impl<'a> Tx<'a> {
    fn view(&self, name: TreeName) -> &TransactionalTree {
        &self.views[name.index()]
    }

    pub fn get<R: Record, E>(&self, id: &str) -> Result<Option<R>, Abort<E>> {
        match self.view(R::TREE).get(id.as_bytes())? {
            None => Ok(None),
            Some(raw) => Ok(Some(decode(R::TREE, id.as_bytes(), &raw)?)),
        }
    }

    pub fn put<R: Record, E>(&self, record: &R) -> Result<(), Abort<E>> {
        self.view(R::TREE).insert(record.id().as_bytes(), encode(record))?;
        Ok(())
    }

    pub fn remove<R: Record, E>(&self, id: &str) -> Result<(), Abort<E>> {
        self.view(R::TREE).remove(id.as_bytes())?;
        Ok(())
    }

    fn add_count<E>(&self, relation: TreeName, parent: &str, delta: i64) -> Result<(), Abort<E>> {
        let counts = self.view(TreeName::Counts);
        let key = count_key(relation, parent);
        let current = decode_count(counts.get(&key)?);
        let next = current.saturating_add_signed(delta);
        if next == 0 {
            counts.remove(key)?;
        } else {
            counts.insert(key, &next.to_be_bytes())?;
        }
        Ok(())
    }

    /// Records `child` under `parent`; linking twice is harmless.
    pub fn link<E>(&self, relation: TreeName, parent: &str, child: &str) -> Result<(), Abort<E>> {
        let previous = self.view(relation).insert(relation_key(parent, child), &[] as &[u8])?;
        if previous.is_none() {
            self.add_count(relation, parent, 1)?;
        }
        Ok(())
    }

    pub fn unlink<E>(&self, relation: TreeName, parent: &str, child: &str) -> Result<(), Abort<E>> {
        if self.view(relation).remove(relation_key(parent, child))?.is_some() {
            self.add_count(relation, parent, -1)?;
        }
        Ok(())
    }

    pub fn has_children<E>(&self, relation: TreeName, parent: &str) -> Result<bool, Abort<E>> {
        Ok(self.child_count(relation, parent)? > 0)
    }

    pub fn child_count<E>(&self, relation: TreeName, parent: &str) -> Result<u64, Abort<E>> {
        Ok(decode_count(
            self.view(TreeName::Counts).get(count_key(relation, parent))?,
        ))
    }

    pub fn index_get<E>(&self, index: TreeName, key: &str) -> Result<Option<String>, Abort<E>> {
        Ok(self
            .view(index)
            .get(key.as_bytes())?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    pub fn index_put<E>(&self, index: TreeName, key: &str, id: &str) -> Result<(), Abort<E>> {
        self.view(index).insert(key.as_bytes(), id.as_bytes())?;
        Ok(())
    }

    pub fn index_remove<E>(&self, index: TreeName, key: &str) -> Result<(), Abort<E>> {
        self.view(index).remove(key.as_bytes())?;
        Ok(())
    }
}

/// Makes `Abort::User` from any error, for `?` inside transaction bodies.
pub fn abort<T, E>(e: E) -> Result<T, Abort<E>> {
    Err(Abort::User(e))
}
