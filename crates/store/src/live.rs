//! A value built from the store and rebuilt whenever configuration changes: readers take the
//! current `Arc` without waiting on SQL; a rebuild swaps it whole. Each reports the change it
//! was last built from, so `Store::applied` tells when a change is in effect everywhere.

use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::Store;

pub struct Live<T> {
    current: RwLock<Arc<T>>,
}

impl<T: Send + Sync + 'static> Live<T> {
    /// Build the first value and keep it current: the store's change counter wakes a task that
    /// rebuilds and swaps (a build that fails leaves the old value serving). `on_swap` sees the
    /// old and the new value of each swap.
    pub async fn follow<B, Fut, S, E>(
        store: &Store,
        build: B,
        on_swap: S,
    ) -> Result<Arc<Live<T>>, E>
    where
        B: Fn(Store) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T, E>> + Send,
        E: std::fmt::Display + Send + 'static,
        S: Fn(&Arc<T>, &Arc<T>) + Send + Sync + 'static,
    {
        let mut changes = store.changes();
        let progress = store.follower();
        let first = *changes.borrow_and_update();
        let live = Arc::new(Live {
            current: RwLock::new(Arc::new(build(store.clone()).await?)),
        });
        progress.store(first, Ordering::SeqCst);
        let weak = Arc::downgrade(&live);
        let store = store.clone();
        tokio::spawn(async move {
            while changes.changed().await.is_ok() {
                // Let a burst of writes (a CSV import, a script) settle into one rebuild.
                tokio::time::sleep(Duration::from_millis(20)).await;
                let seen = *changes.borrow_and_update();
                let Some(live) = weak.upgrade() else { return };
                match build(store.clone()).await {
                    Ok(value) => {
                        let new = Arc::new(value);
                        let old = std::mem::replace(
                            &mut *live.current.write().expect("live lock"),
                            new.clone(),
                        );
                        on_swap(&old, &new);
                    }
                    Err(e) => tracing::error!(error = %e, "kept the previous snapshot"),
                }
                progress.store(seen, Ordering::SeqCst);
            }
        });
        Ok(live)
    }

    /// A value that never changes (tests, tools).
    pub fn fixed(value: T) -> Arc<Live<T>> {
        Arc::new(Live {
            current: RwLock::new(Arc::new(value)),
        })
    }

    pub fn get(&self) -> Arc<T> {
        self.current.read().expect("live lock").clone()
    }
}
