//! A map split into shards by key hash, each behind its own lock: what the SIP stack keeps per
//! transaction and connection, the guard per address and name, and call control per call, line
//! and device, without one lock shared by every message. One implementation for all of them.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Mutex;

pub struct Sharded<K, V> {
    shards: Vec<Mutex<HashMap<K, V>>>,
}

impl<K: Hash + Eq, V> Sharded<K, V> {
    pub fn new(shards: usize) -> Self {
        Sharded {
            shards: (0..shards.max(1))
                .map(|_| Mutex::new(HashMap::new()))
                .collect(),
        }
    }

    /// Run `f` on the shard that holds `key`.
    pub fn with<Q: Hash + ?Sized, R>(&self, key: &Q, f: impl FnOnce(&mut HashMap<K, V>) -> R) -> R {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        key.hash(&mut h);
        let shard = &self.shards[(h.finish() as usize) % self.shards.len()];
        f(&mut shard.lock().expect("shard lock"))
    }

    /// How many shards there are (a bound per shard is the whole bound divided by this).
    pub fn shards(&self) -> usize {
        self.shards.len()
    }

    /// Run `f` on every shard in turn (listings, never the message path).
    pub fn each(&self, mut f: impl FnMut(&mut HashMap<K, V>)) {
        for shard in &self.shards {
            f(&mut shard.lock().expect("shard lock"));
        }
    }
}
