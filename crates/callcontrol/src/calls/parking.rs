//! Application park slots: a call parked in a slot waits there (its other party hears
//! nothing new); an unpark rings the chosen line's phones and the first to answer takes
//! the parked party, joined by a re-INVITE carrying the new phone's offer.

use super::control::*;
use super::*;
use tokio::sync::oneshot;

impl Calls {
    /// Calls waiting in park slots.
    pub fn parked(&self) -> Vec<(String, u64)> {
        let mut out = Vec::new();
        self.inner
            .parks
            .each(|m| out.extend(m.iter().map(|(s, c)| (s.clone(), *c))));
        out.sort();
        out
    }

    /// Connect the call parked in `slot` with `line`: the line's phones ring, and the first
    /// to answer takes the call.
    pub async fn unpark(&self, slot: &str, line: &str) -> Result<u64, CtiError> {
        let call = self
            .inner
            .parks
            .with(slot, |m| m.get(slot).copied())
            .ok_or_else(|| CtiError::NoSuchSlot(slot.to_string()))?;
        let line = self.line_key(line)?;
        let to = self.call_task(call)?;
        self.ask(to, call, |reply| Control::Unpark {
            line: line.key.clone(),
            reply,
        })
        .await?;
        Ok(call)
    }
}

impl Call {
    pub(super) async fn park(
        &mut self,
        side: Side,
        slot: String,
        reply: oneshot::Sender<Result<(), CtiError>>,
    ) -> Next {
        if !self.connected() {
            let _ = reply.send(Err(CtiError::State("the call is not connected".into())));
            return Next::Continue;
        }
        if slot.is_empty() || slot.len() > 64 {
            let _ = reply.send(Err(CtiError::State("slot: 1 to 64 characters".into())));
            return Next::Continue;
        }
        let id = self.id;
        let taken = self.inner.parks.with(&slot, |m| {
            if m.contains_key(&slot) {
                true
            } else {
                m.insert(slot.clone(), id);
                false
            }
        });
        if taken {
            let _ = reply.send(Err(CtiError::Taken(format!("slot {slot}"))));
            return Next::Continue;
        }
        let _ = reply.send(Ok(()));
        // The parker leaves; its line is free again.
        self.bye(side).await;
        if let Some(old) = self.legs[side as usize].take() {
            self.released.push(old.dialog.call_id);
        }
        let line = match side {
            Side::A => self.caller.line.take(),
            Side::B => self.called_line.take(),
        };
        if let Some(line) = line {
            if let Some(pos) = self.loads.iter().position(|l| *l == line) {
                self.loads.remove(pos);
                self.inner.load(&line, -1);
            }
        }
        match side {
            Side::A => self.caller.device = None,
            Side::B => self.called_device = None,
        }
        self.parked = Some(slot.clone());
        self.held_by = None;
        self.music = None;
        self.inner.events.emit(Notice::CallParked {
            call: self.id,
            slot,
            parties: self.parties(),
        });
        Next::Continue
    }

    pub(super) async fn on_unpark(
        &mut self,
        line: LineKey,
        reply: oneshot::Sender<Result<(), CtiError>>,
    ) -> Next {
        if self.parked.is_none() {
            let _ = reply.send(Err(CtiError::State("the call is not parked".into())));
            return Next::Continue;
        }
        let free = if self.legs[Side::A as usize].is_none() {
            Side::A
        } else {
            Side::B
        };
        let snapshot = self.inner.directory.get();
        let contacts = self.inner.registrar.contacts(&snapshot, &line);
        if contacts.is_empty() {
            let _ = reply.send(Err(CtiError::NotRegistered(format!(
                "line {}",
                line.number
            ))));
            return Next::Continue;
        }
        let _ = reply.send(Ok(()));
        self.occupy(&line);
        match free {
            Side::A => {
                self.caller.line = Some(line.clone());
                self.caller.number = line.number.clone();
            }
            Side::B => self.called_line = Some(line.clone()),
        }
        for f in self.forks.iter_mut() {
            f.stale = true;
        }
        for b in contacts {
            let peer = self.inner.peer_for(&b);
            self.next_role = Some(Role::Joining(free));
            self.fork(&b.contact, peer, Some(b.device.clone()), None)
                .await;
        }
        Next::Continue
    }
}
