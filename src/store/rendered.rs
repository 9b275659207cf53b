//! Bodies rendered from one tree, kept while the tree is unchanged. A
//! listing of 50,000 volumes walks 50,000 keys and writes 1.7 MB each time,
//! and a cluster's list walks them too; kept, a repeated `GET /volumes`
//! only sends its body. Only where the backend can tell a tree changed
//! (`Backend::version`: the in-memory copies on sled); elsewhere every call
//! renders.

use std::sync::{Mutex, PoisonError};

use bytes::Bytes;

use super::backend::Backend;
use super::{StoreError, TreeName};

/// At most this many bodies are kept; the oldest goes first.
const KEPT: usize = 32;

struct Kept {
    tree: TreeName,
    /// What the body is of (a cluster's id; empty for the whole tree).
    subject: String,
    /// The tree's version when the render began.
    version: u64,
    body: Bytes,
}

#[derive(Default)]
pub(super) struct Rendered {
    kept: Mutex<Vec<Kept>>,
}

impl Rendered {
    /// The body `render` makes of `subject` from `tree`: the kept one if
    /// the tree has not changed since it was rendered. `render` must read
    /// only `tree`.
    pub(super) fn get(
        &self,
        backend: &dyn Backend,
        tree: TreeName,
        subject: &str,
        render: &mut dyn FnMut() -> Result<Vec<u8>, StoreError>,
    ) -> Result<Bytes, StoreError> {
        let Some(before) = backend.version(tree) else {
            return render().map(Bytes::from);
        };
        if let Some(body) = self.kept(tree, subject, before) {
            return Ok(body);
        }
        let body = Bytes::from(render()?);
        // Kept as of `before`: if a commit wrote the tree during the
        // render, the body may show it, but the version has moved on and
        // the body is never answered again.
        let mut kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        // Bodies of older versions of the tree would never be answered.
        kept.retain(|k| k.tree != tree || (k.version == before && k.subject != subject));
        if kept.len() >= KEPT {
            kept.remove(0);
        }
        kept.push(Kept {
            tree,
            subject: subject.to_owned(),
            version: before,
            body: body.clone(),
        });
        Ok(body)
    }

    fn kept(&self, tree: TreeName, subject: &str, version: u64) -> Option<Bytes> {
        let kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        kept.iter()
            .find(|k| k.tree == tree && k.version == version && k.subject == subject)
            .map(|k| k.body.clone())
    }
}
