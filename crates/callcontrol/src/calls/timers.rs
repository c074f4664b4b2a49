//! A call's timers: maximum duration, route-point offers, ringing (no answer, trunk
//! failover, giving up) and RFC 4028 session timers, each leg refreshing or being refreshed.

use super::*;

/// RFC 4028 on one leg: who refreshes, and when the session is dead without a refresh.
#[derive(Debug, Clone, Copy)]
pub(super) struct SessionTimer {
    pub(super) interval: Duration,
    /// Dialtone sends the refreshes (otherwise it waits for them).
    pub(super) we_refresh: bool,
    pub(super) next: Instant,
}

impl SessionTimer {
    pub(super) fn new(seconds: u32, we_refresh: bool) -> SessionTimer {
        let mut t = SessionTimer {
            interval: Duration::from_secs(seconds as u64),
            we_refresh,
            next: Instant::now(),
        };
        t.restart();
        t
    }

    /// A refresh happened: the next is due at half the interval (when we refresh), or the
    /// session expires at the interval less a margin (RFC 4028 section 10).
    pub(super) fn restart(&mut self) {
        let i = self.interval;
        self.next = Instant::now()
            + if self.we_refresh {
                i / 2
            } else {
                i - (i / 3).min(Duration::from_secs(32))
            };
    }
}

impl Call {
    // ---- events --------------------------------------------------------------------

    pub(super) async fn on_timer(&mut self) -> Next {
        let now = Instant::now();
        if self.hang_up_at.is_some_and(|at| now >= at) {
            tracing::info!(call = self.id, "maximum call duration reached");
            self.cancel_all_forks(None).await;
            if !self.a_answered {
                return self.fail_caller(408, "maximum call duration").await;
            }
            return self.hang_up_all("max_duration").await;
        }
        if let Some(next) = self.on_prompt_timer(now).await {
            return next;
        }
        if self.a_ack_due.is_some_and(|due| now >= due) {
            tracing::info!(call = self.id, "the caller never acknowledged the answer");
            self.a_ack_due = None;
            return self.hang_up_all("no_ack").await;
        }
        if self
            .at_route_point
            .as_ref()
            .is_some_and(|r| !r.accepted && now >= r.deadline)
        {
            return self.route_request_expired().await;
        }
        if self.legs[Side::B as usize].is_none() && self.parked.is_none() {
            if now >= self.given_up_at {
                self.cancel_all_forks(None).await;
                return self.fail_caller(480, "nobody answered").await;
            }
            if self.ring_deadline.is_some_and(|d| now >= d) {
                self.ring_deadline = None;
                if self.forks.on_trunk() {
                    // The trunk said nothing in time: on to the next one.
                    if self.forks.give_up_silent_trunk().is_some() {
                        return self.check_forks().await;
                    }
                    return Next::Continue;
                }
                if let Some(fwd) = self.no_answer.clone() {
                    return self.divert(fwd, Reason::NoAnswer).await;
                }
            }
        }
        for side in [Side::A, Side::B] {
            let Some(leg) = self.legs[side as usize].as_mut() else {
                continue;
            };
            let Some(s) = leg.session.as_mut() else {
                continue;
            };
            if now < s.next {
                continue;
            }
            if !s.we_refresh {
                tracing::info!(call = self.id, side = side.name(), "session expired");
                return self.hang_up_all("session_expired").await;
            }
            s.restart();
            let se = s.interval.as_secs();
            let via = self.inner.endpoint.via(leg.peer.transport);
            let b = leg
                .dialog
                .request("UPDATE", &via)
                .header("Contact", &leg.contact)
                .header("Session-Expires", &format!("{se};refresher=uac"))
                .header("Supported", "timer")
                .finish();
            let peer = leg.peer;
            let tx = self.next_tx;
            self.next_tx += 1;
            self.pending.insert(tx, Purpose::Quiet { side: Some(side) });
            self.send(tx, b, peer).await;
        }
        Next::Continue
    }
}
