//! What call control tells its watchers: device and call events, each with stable ids. This is
//! the "events out" half of the CTI surface (DESIGN.md); applications and the admin API's event
//! stream subscribe here. The channel is bounded: a slow watcher never slows call processing;
//! it misses events, is told how many (`lagged`), and resynchronises from the live views.

use std::sync::Arc;

use serde::Serialize;
use tokio::sync::broadcast;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A contact was bound (a new registration, not a refresh).
    DeviceRegistered {
        device: String,
        line: String,
        contact: String,
    },
    /// A contact was removed (unregistered).
    DeviceUnregistered {
        device: String,
        line: String,
    },
    /// A call started ringing the called line's devices (or a trunk).
    CallOffered {
        call: u64,
        calling: String,
        called: String,
        devices: Vec<String>,
    },
    /// The called side is alerting (180/183).
    CallAlerting {
        call: u64,
    },
    CallConnected {
        call: u64,
        called_device: Option<String>,
    },
    /// `by`: calling or called.
    CallHeld {
        call: u64,
        by: &'static str,
    },
    CallResumed {
        call: u64,
    },
    /// The call was forwarded from `from` (a line) for `reason`.
    CallRedirected {
        call: u64,
        from: String,
        reason: &'static str,
    },
    /// The transferor left; the call now connects its other party with `to`.
    CallTransferred {
        call: u64,
        to: String,
    },
    CallEnded {
        call: u64,
        cause: &'static str,
        sip_status: u16,
    },
}

/// The event bus: cheap to clone.
#[derive(Clone)]
pub struct Events {
    tx: broadcast::Sender<Arc<Event>>,
}

impl Events {
    /// `capacity`: events a watcher may fall behind before it is told it lagged.
    pub fn new(capacity: usize) -> Events {
        Events {
            tx: broadcast::channel(capacity.max(16)).0,
        }
    }

    pub fn emit(&self, event: Event) {
        // No watcher is not an error.
        let _ = self.tx.send(Arc::new(event));
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.tx.subscribe()
    }
}
