//! The forks of a call being set up: one INVITE per contact of the called line (or one per
//! trunk tried), and what their answers decide. This part owns the forks' state and returns
//! decisions (send this CANCEL now, try the next trunk, the caller hears busy); the call's
//! task does the sending. So the rules of forking are tested here without a socket:
//! a CANCEL waits for the fork's first provisional answer (RFC 3261 9.1), a fork left
//! behind by a forward decides nothing, and the caller hears the most telling failure (a 6xx
//! over everything, otherwise the lowest status; a 487 answering our own CANCEL never
//! replaces a phone's answer, and once first it stays: the call was cancelled).

use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use dialtone_sip::endpoint::Peer;
use dialtone_sip::Message;

use super::Side;

/// One INVITE sent while the call is being set up.
pub(super) struct Fork {
    /// The client transaction of its current INVITE (a new one after a digest challenge).
    pub tx: u64,
    pub invite: Arc<Message>,
    pub peer: Peer,
    pub device: Option<String>,
    pub trunk: Option<String>,
    /// It answered provisionally (100 included): a CANCEL may be sent.
    pub provisional: bool,
    /// A CANCEL waits for the first provisional answer (RFC 3261 9.1), with its Reason.
    pub cancel_pending: Option<Option<&'static str>>,
    /// It has its final answer, or was cancelled.
    pub done: bool,
    /// Left behind by a forward: its answers no longer decide anything.
    pub stale: bool,
    pub role: Role,
    /// Its latest provisional answer (the early dialog a remote answer names).
    pub early: Option<Arc<Message>>,
    /// Already answered a trunk's digest challenge (a second one is a failure).
    pub authenticated: bool,
}

impl Fork {
    /// A fork whose INVITE has just been sent.
    pub fn new(
        tx: u64,
        invite: Arc<Message>,
        peer: Peer,
        device: Option<String>,
        trunk: Option<String>,
        role: Role,
    ) -> Fork {
        Fork {
            tx,
            invite,
            peer,
            device,
            trunk,
            provisional: false,
            cancel_pending: None,
            done: false,
            stale: false,
            role,
            early: None,
            authenticated: false,
        }
    }
}

/// What a fork rings for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    /// The called party (the normal case).
    Called,
    /// The target of a blind transfer or an application's redirect of a connected call.
    TransferTarget,
    /// The phone of a MakeCall's originating line, asked to answer by itself: by a REFER
    /// with a remote-control request once it rings (Cisco phones: `remote_cc`), or by the
    /// INVITE's `Call-Info: answer-after=0`.
    Originator { remote_cc: bool, asked: bool },
    /// A line taking the party on `Side::other()` (an unpark): its answer's offer goes to
    /// that party in a re-INVITE.
    Joining(Side),
    /// A device Dialtone calls with its own media (`device_call`): its answer is the audio.
    Served,
}

/// A CANCEL to send now: the INVITE it cancels, where, and the Reason header's value.
#[derive(Debug)]
pub(super) struct CancelNow {
    pub invite: Arc<Message>,
    pub peer: Peer,
    pub reason: Option<&'static str>,
}

/// What the forks' answers so far decide about the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Forking {
    /// A fork may still answer (or the call is answered): nothing to do.
    Waiting,
    /// The trunk failed in a way the next trunk of the route list may not: try it.
    NextTrunk,
    /// Every fork failed and one said busy: forward on busy, or the caller hears 486.
    Busy,
    /// Every fork failed: the caller hears this status.
    Failed(u16),
}

/// The forks of one call, and the failures they have answered.
#[derive(Default)]
pub(super) struct Forks {
    list: Vec<Fork>,
    busy_seen: bool,
    best_failure: Option<u16>,
}

impl Deref for Forks {
    type Target = [Fork];
    fn deref(&self) -> &[Fork] {
        &self.list
    }
}

impl DerefMut for Forks {
    fn deref_mut(&mut self) -> &mut [Fork] {
        &mut self.list
    }
}

impl Forks {
    /// A new fork; its index names it from now on.
    pub fn add(&mut self, fork: Fork) -> usize {
        self.list.push(fork);
        self.list.len() - 1
    }

    /// The most telling failure answered so far, if any.
    pub fn best_failure(&self) -> Option<u16> {
        self.best_failure
    }

    /// Cancel fork `i`: now, if it has answered provisionally; otherwise the CANCEL is held
    /// until it does (RFC 3261 9.1), and [`Forks::provisional`] returns it then.
    pub fn cancel(&mut self, i: usize, reason: Option<&'static str>) -> Option<CancelNow> {
        let f = &mut self.list[i];
        if f.done {
            return None;
        }
        if !f.provisional {
            f.cancel_pending = Some(reason);
            return None;
        }
        f.done = true;
        f.cancel_pending = None;
        Some(CancelNow {
            invite: f.invite.clone(),
            peer: f.peer,
            reason,
        })
    }

    /// Cancel every fork still ringing; the CANCELs to send now.
    pub fn cancel_all(&mut self, reason: Option<&'static str>) -> Vec<CancelNow> {
        (0..self.list.len())
            .filter_map(|i| self.cancel(i, reason))
            .collect()
    }

    /// Fork `i` answered provisionally (a 100 too): the CANCEL held back for it, if any.
    pub fn provisional(&mut self, i: usize) -> Option<CancelNow> {
        let f = &mut self.list[i];
        f.provisional = true;
        let reason = f.cancel_pending.take()?;
        self.cancel(i, reason)
    }

    /// Fork `i` failed with `code`. True when the failure is a trunk's that lets the next
    /// trunk of the route list try (408, 500, 503: the trunk, not the number, failed); any
    /// other failure ends the route list.
    pub fn failed(&mut self, i: usize, code: u16) -> bool {
        let f = &mut self.list[i];
        f.done = true;
        if code == 486 || code == 600 {
            self.busy_seen = true;
        }
        let trunk_failover = f.trunk.is_some() && matches!(code, 408 | 500 | 503);
        let better = match self.best_failure {
            _ if trunk_failover => true,
            None => true,
            Some(old) => code >= 600 || (old != 487 && code < old && code != 487),
        };
        if better {
            self.best_failure = Some(code);
        }
        trunk_failover
    }

    /// Fork `i` failed with `code`, which decides over any earlier failure (a MakeCall's
    /// originator or a joining line: the only fork that matters).
    pub fn failed_with(&mut self, i: usize, code: u16) {
        self.list[i].done = true;
        self.best_failure = Some(code);
    }

    /// Fork `i`'s transaction ended without a final answer: the far end is not there.
    pub fn vanished(&mut self, i: usize) {
        let f = &mut self.list[i];
        if !f.done {
            f.done = true;
            self.best_failure.get_or_insert(408);
        }
    }

    /// Fork `i` gave its final answer after the call had ended (it is hung up if it answered).
    pub fn answered_late(&mut self, i: usize) {
        let f = &mut self.list[i];
        f.done = true;
        f.cancel_pending = None;
    }

    /// Forks whose INVITE may still be answered: a call that ends waits for these, so a
    /// CANCEL held for a provisional answer still goes, and a late 200 is still acknowledged
    /// and hung up.
    pub fn unfinished(&self) -> usize {
        self.list.iter().filter(|f| !f.done).count()
    }

    /// The trunk's failover timer ran out: the trunk fork that never answered at all is given
    /// up (408), or None when the trunk is ringing (it rings as long as it likes).
    pub fn give_up_silent_trunk(&mut self) -> Option<usize> {
        let i = self
            .list
            .iter()
            .position(|f| !f.done && !f.stale && !f.provisional)?;
        self.list[i].done = true;
        self.best_failure = Some(408);
        Some(i)
    }

    /// A trunk is being tried (not a line's phones).
    pub fn on_trunk(&self) -> bool {
        self.list.iter().any(|f| f.trunk.is_some() && !f.stale)
    }

    /// The call leaves these forks for a forward: their answers decide nothing from now on.
    pub fn leave_all(&mut self) {
        for f in &mut self.list {
            f.stale = true;
        }
        self.busy_seen = false;
        self.best_failure = None;
    }

    /// What the answers decide, the call being `answered` or not, with `trunks_left` in the
    /// route list.
    pub fn standing(&self, answered: bool, trunks_left: bool) -> Forking {
        if answered || self.list.iter().any(|f| !f.done && !f.stale) {
            return Forking::Waiting;
        }
        if self.on_trunk() && trunks_left {
            return Forking::NextTrunk;
        }
        if self.busy_seen {
            return Forking::Busy;
        }
        Forking::Failed(self.best_failure.unwrap_or(480))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dialtone_sip::endpoint::Transport;

    fn invite(n: u32) -> Arc<Message> {
        let text = format!(
            "INVITE sip:100{n}@127.0.0.1:5070 SIP/2.0\r\n\
             Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-fork{n}\r\n\
             Max-Forwards: 69\r\nFrom: <sip:2000@dialtone>;tag=a{n}\r\n\
             To: <sip:100{n}@dialtone>\r\nCall-ID: fork{n}@dialtone\r\n\
             CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
        );
        Arc::new(Message::parse(bytes::Bytes::from(text)).expect("a valid INVITE"))
    }

    fn forks(n: u32, trunk: bool) -> Forks {
        let mut f = Forks::default();
        for i in 0..n {
            f.add(Fork::new(
                i as u64,
                invite(i),
                Peer {
                    transport: Transport::Udp,
                    addr: ([127, 0, 0, 1], 5070 + i as u16).into(),
                },
                (!trunk).then(|| format!("SEP00000000000{i}")),
                trunk.then(|| format!("trunk{i}")),
                Role::Called,
            ));
        }
        f
    }

    #[test]
    fn a_cancel_waits_for_the_first_provisional_answer_even_a_100() {
        let mut f = forks(2, false);
        assert!(f.cancel(0, Some("SIP;cause=200")).is_none(), "held back");
        assert!(!f[0].done, "still expecting the CANCEL to go");
        let sent = f.provisional(0).expect("the held CANCEL goes with the 100");
        assert_eq!(sent.reason, Some("SIP;cause=200"));
        assert_eq!(sent.invite.call_id(), Some("fork0@dialtone"));
        assert!(f[0].done);
        assert!(f.provisional(0).is_none(), "one CANCEL per fork");
        assert!(
            f.provisional(1).is_none(),
            "nothing held for the other fork"
        );
        assert!(
            f.cancel(1, None).is_some(),
            "a ringing fork is cancelled at once"
        );
    }

    #[test]
    fn cancelling_every_fork_sends_only_to_those_that_rang() {
        let mut f = forks(3, false);
        f.provisional(0);
        f.provisional(2);
        f.failed(2, 486);
        let sent = f.cancel_all(None);
        assert_eq!(sent.len(), 1, "fork 0 only: fork 1 waits, fork 2 is over");
        assert_eq!(
            f.unfinished(),
            1,
            "fork 1 still owes its answer to the CANCEL"
        );
        assert!(f.provisional(1).is_some());
        assert_eq!(f.unfinished(), 0);
    }

    #[test]
    fn the_caller_hears_busy_when_any_phone_of_a_shared_line_is_busy() {
        let mut f = forks(2, false);
        assert!(!f.failed(0, 486));
        assert_eq!(f.standing(false, false), Forking::Waiting, "fork 1 rings");
        f.failed(1, 480);
        assert_eq!(f.standing(false, false), Forking::Busy);
    }

    #[test]
    fn the_most_telling_failure_wins_and_never_our_own_487() {
        let mut f = forks(3, false);
        f.failed(0, 480);
        f.failed(1, 404);
        f.failed(2, 487);
        assert_eq!(f.standing(false, false), Forking::Failed(404));
        let mut g = forks(2, false);
        g.failed(0, 404);
        g.failed(1, 603);
        assert_eq!(g.standing(false, false), Forking::Failed(603), "6xx wins");
        let mut h = forks(1, false);
        h.vanished(0);
        assert_eq!(h.standing(false, false), Forking::Failed(408));
    }

    #[test]
    fn an_answer_or_a_ringing_fork_keeps_the_call_waiting() {
        let mut f = forks(2, false);
        f.failed(0, 404);
        assert_eq!(f.standing(false, false), Forking::Waiting);
        f.failed(1, 404);
        assert_eq!(
            f.standing(true, false),
            Forking::Waiting,
            "answered already"
        );
    }

    #[test]
    fn a_trunk_that_fails_in_itself_hands_over_to_the_next() {
        let mut f = forks(1, true);
        assert!(f.failed(0, 503), "503: the next trunk may do better");
        assert_eq!(f.standing(false, true), Forking::NextTrunk);
        assert_eq!(f.standing(false, false), Forking::Failed(503));
        let mut g = forks(1, true);
        assert!(!g.failed(0, 404), "404: the number, not the trunk, failed");
    }

    #[test]
    fn a_trunk_that_never_answers_is_given_up_but_a_ringing_one_is_not() {
        let mut f = forks(1, true);
        f.provisional(0);
        assert_eq!(f.give_up_silent_trunk(), None);
        let mut g = forks(1, true);
        assert_eq!(g.give_up_silent_trunk(), Some(0));
        assert_eq!(g.standing(false, false), Forking::Failed(408));
    }

    #[test]
    fn forks_left_behind_by_a_forward_decide_nothing() {
        let mut f = forks(2, false);
        f.failed(0, 486);
        f.leave_all();
        assert_eq!(f.best_failure(), None);
        assert!(f.iter().all(|x| x.stale));
        assert_eq!(
            f.standing(false, false),
            Forking::Failed(480),
            "no answer counted"
        );
        f.add(Fork::new(9, invite(9), f[0].peer, None, None, Role::Called));
        assert_eq!(
            f.standing(false, false),
            Forking::Waiting,
            "the forward rings"
        );
    }
}
