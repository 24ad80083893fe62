//! The reloadable contents of a password or ACL file, shared by every clone of its handle.

use std::{
    path::{Path, PathBuf},
    sync::{Arc, PoisonError, RwLock},
};

/// Parsed contents `T` and where they came from. Readers take a cheap `Arc` snapshot, so a
/// reload never waits for (or blocks) a check in progress.
#[derive(Debug)]
pub(super) struct Source<T> {
    path: Option<PathBuf>,
    current: RwLock<Arc<T>>,
}

impl<T> Source<T> {
    pub(super) fn new(path: Option<&Path>, contents: T) -> Source<T> {
        Source {
            path: path.map(Path::to_path_buf),
            current: RwLock::new(Arc::new(contents)),
        }
    }

    pub(super) fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    pub(super) fn snapshot(&self) -> Arc<T> {
        // A writer only swaps an `Arc`, so a poisoned lock still holds consistent contents.
        Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner))
    }

    pub(super) fn replace(&self, contents: T) {
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(contents);
    }
}
