//! [`Memo`]: a map, shared by the workers that render clusters in
//! parallel, that computes each value once per key. Identical objects,
//! schemas, policies and expressions recur on many clusters; the checks
//! of `accept` and `admit` remember their answers here.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;

/// Each key's value, computed on first use. The value is computed outside
/// the lock, so workers never wait on one another's computation (two may
/// compute the same missing value at once; the values are equal).
pub struct Memo<K, V> {
    map: Mutex<HashMap<K, V>>,
    /// The most entries kept (past it, values are computed and not kept).
    limit: usize,
}

impl<K, V> Default for Memo<K, V> {
    fn default() -> Self {
        Memo {
            map: Mutex::default(),
            limit: usize::MAX,
        }
    }
}

impl<K: Hash + Eq, V: Clone> Memo<K, V> {
    /// A memo that keeps at most `limit` entries (for keys that come from
    /// input, which could otherwise grow it without end).
    pub fn bounded(limit: usize) -> Self {
        Memo {
            map: Mutex::default(),
            limit,
        }
    }

    /// The value of `key`, made by `make` the first time.
    pub fn get_or<Q>(&self, key: &Q, make: impl FnOnce() -> V) -> V
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        if let Some(v) = self.lock().get(key) {
            return v.clone();
        }
        let v = make();
        let mut map = self.lock();
        if map.len() < self.limit {
            map.insert(key.to_owned(), v.clone());
        }
        v
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<K, V>> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl<K, V> Memo<K, V> {
    /// How many values are kept.
    pub fn len(&self) -> usize {
        self.map
            .lock()
            .map_or_else(|e| e.into_inner().len(), |m| m.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
