//! CTI route points: numbers an application owns. A call to one is offered to the owning
//! application (a route request), which redirects, accepts or rejects it; unanswered in
//! time, or when the application goes away, the call falls to the route point's Call
//! Forward on CTI Failure (or No Answer).

use super::control::*;
use super::*;
use std::collections::HashMap;
use std::sync::Mutex;
use tokio::sync::oneshot;

/// Route points owned by connected applications.
#[derive(Default)]
pub struct RoutePoints {
    owners: Mutex<HashMap<String, Owner>>,
    next_request: AtomicU64,
}

pub(super) struct Owner {
    app: u64,
    requests: mpsc::Sender<Arc<Notice>>,
    /// Calls at the route point (offered or accepted): told when the application goes.
    calls: HashMap<u64, mpsc::Sender<Input>>,
}

impl RoutePoints {
    /// Application `app` takes route point `number`; route requests arrive on `requests`.
    pub fn register(
        &self,
        number: &str,
        app: u64,
        requests: mpsc::Sender<Arc<Notice>>,
    ) -> Result<(), CtiError> {
        let mut owners = self.owners.lock().expect("route points");
        if owners.get(number).is_some_and(|o| o.app != app) {
            return Err(CtiError::Taken(format!("route point {number}")));
        }
        owners.insert(
            number.to_string(),
            Owner {
                app,
                requests,
                calls: HashMap::new(),
            },
        );
        Ok(())
    }

    /// Application `app` is gone: its route points are free and their calls fall through to
    /// Call Forward on CTI Failure.
    pub fn release(&self, app: u64) {
        let lost: Vec<mpsc::Sender<Input>> = {
            let mut owners = self.owners.lock().expect("route points");
            let mine: Vec<String> = owners
                .iter()
                .filter(|(_, o)| o.app == app)
                .map(|(n, _)| n.clone())
                .collect();
            mine.into_iter()
                .filter_map(|n| owners.remove(&n))
                .flat_map(|o| o.calls.into_values())
                .collect()
        };
        for call in lost {
            let _ = call.try_send(Input::Control(Control::ApplicationLost));
        }
    }

    pub fn owned(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .owners
            .lock()
            .expect("route points")
            .keys()
            .cloned()
            .collect();
        v.sort();
        v
    }

    /// Offer a call to the route point's application; None when no application owns it
    /// (or its queue is full: it is not keeping up).
    fn offer(
        &self,
        number: &str,
        call: u64,
        events: &mpsc::Sender<Input>,
        make: impl FnOnce(u64) -> Notice,
    ) -> Option<u64> {
        let mut owners = self.owners.lock().expect("route points");
        let owner = owners.get_mut(number)?;
        let request = self.next_request.fetch_add(1, Ordering::Relaxed) + 1;
        owner.requests.try_send(Arc::new(make(request))).ok()?;
        owner.calls.insert(call, events.clone());
        Some(request)
    }

    fn leave(&self, number: &str, call: u64) {
        if let Some(o) = self.owners.lock().expect("route points").get_mut(number) {
            o.calls.remove(&call);
        }
    }
}

/// A route point's call waiting on its application.
pub(super) struct AtRoutePoint {
    pub number: LineKey,
    pub request: u64,
    /// The application accepted: no more deadline (the ring limit still applies).
    pub accepted: bool,
    pub deadline: Instant,
}

impl Calls {
    /// An application's answer to route request `request` of `call`.
    pub async fn route(
        &self,
        call: u64,
        request: u64,
        action: RouteAction,
    ) -> Result<(), CtiError> {
        let to = self.call_task(call)?;
        self.ask(to, call, |reply| Control::Route {
            request,
            action,
            reply,
        })
        .await
    }

    pub fn route_points(&self) -> &RoutePoints {
        &self.inner.route_points
    }
}

impl Call {
    /// The call reached route point `line`: offer it to the owning application, or follow
    /// the route point's Call Forward Unregistered when none is connected.
    pub(super) async fn at_route_point(
        &mut self,
        line: Arc<crate::directory::Line>,
        decision: Decision,
    ) -> Next {
        // The number dialled (after the dial plan's manipulations), which a route point on a
        // pattern (the seed's Manager Assistant `6XXXX`) needs to know whose call it is.
        let called = decision.called.clone();
        self.decision = Some(decision);
        self.called_line = Some(line.key.clone());
        self.occupy(&line.key);
        let timer = Duration::from_secs(line.config.no_answer_timer.max(1) as u64);
        let (id, calling) = (self.id, self.caller.number.clone());
        let offered =
            self.inner
                .route_points
                .offer(&line.key.number, id, &self.events_tx, |request| {
                    Notice::RouteRequest {
                        call: id,
                        request,
                        route_point: line.key.number.clone(),
                        calling: calling.clone(),
                        called: called.clone(),
                        timeout_ms: timer.as_millis() as u64,
                    }
                });
        let Some(request) = offered else {
            // Call Forward Unregistered; the seed's Manager Assistant route point has only
            // Call Forward No Answer configured, which then serves as well.
            tracing::info!(call = self.id, route_point = %line.key, "no application: falling through");
            return match self.route_point_forward(&line.key, "unregistered") {
                Some(fwd) => self.divert(fwd, Reason::Unavailable).await,
                None => {
                    let why = format!("route point {} has no application", line.key.number);
                    self.fail_caller(480, &why).await
                }
            };
        };
        self.at_route_point = Some(AtRoutePoint {
            number: line.key.clone(),
            request,
            accepted: false,
            deadline: Instant::now() + timer,
        });
        Next::Continue
    }

    pub(super) fn leave_route_point(&mut self) {
        if let Some(rp) = self.at_route_point.take() {
            self.inner.route_points.leave(&rp.number.number, self.id);
        }
        if let Some(rp) = self.served.as_ref().and_then(|s| s.route_point.as_ref()) {
            self.inner.route_points.leave(rp, self.id);
        }
    }

    /// Where a route point's call falls through for `reason` (`unregistered`: no application;
    /// `no-answer`: the request went unanswered; `cti-failure`: the application was lost):
    /// that forward if set, else Call Forward No Answer, the fall-through the seed configures.
    pub(super) fn route_point_forward(
        &self,
        rp: &LineKey,
        reason: &str,
    ) -> Option<(String, Option<String>)> {
        let snapshot = self.inner.directory.get();
        let c = &snapshot.line(rp)?.config;
        let first = match reason {
            "unregistered" => &c.forward_unregistered,
            "cti-failure" => &c.forward_cti_failure,
            _ => &c.forward_no_answer,
        };
        #[allow(clippy::let_and_return)] // the borrow of `snapshot` must end first
        let found = [first, &c.forward_no_answer]
            .into_iter()
            .find(|f| f.is_set())
            .map(|f| (f.destination.clone(), f.css.clone()));
        found
    }

    /// The application did not answer the route request in time.
    pub(super) async fn route_request_expired(&mut self) -> Next {
        let Some(rp) = self.at_route_point.take() else {
            return Next::Continue;
        };
        self.inner.route_points.leave(&rp.number.number, self.id);
        tracing::info!(call = self.id, route_point = %rp.number, "route request unanswered");
        match self.route_point_forward(&rp.number, "no-answer") {
            Some(fwd) => self.divert(fwd, Reason::NoAnswer).await,
            None => {
                self.fail_caller(480, "the route point's application did not answer")
                    .await
            }
        }
    }

    pub(super) async fn on_application_lost(&mut self) -> Next {
        if self.served.is_some() {
            // The application answering the call is gone: nobody is on the other side.
            tracing::info!(
                call = self.id,
                "the serving application is gone: hanging up"
            );
            return self.hang_up_all("application lost").await;
        }
        let Some(rp) = self.at_route_point.take() else {
            return Next::Continue;
        };
        tracing::info!(call = self.id, route_point = %rp.number, "route point application lost");
        match self.route_point_forward(&rp.number, "cti-failure") {
            Some(fwd) => self.divert(fwd, Reason::Unavailable).await,
            None => {
                self.fail_caller(480, "the route point's application is gone")
                    .await
            }
        }
    }

    pub(super) async fn on_route_answer(
        &mut self,
        request: u64,
        action: RouteAction,
        reply: oneshot::Sender<Result<(), CtiError>>,
    ) -> Next {
        if self.at_route_point.as_ref().map(|r| r.request) != Some(request) {
            let _ = reply.send(Err(CtiError::State(format!(
                "route request {request} is no longer pending"
            ))));
            return Next::Continue;
        }
        match action {
            RouteAction::Redirect { destination } => {
                self.redirect_ringing(&destination, Reason::Deflection, reply)
                    .await
            }
            RouteAction::Accept => {
                if let Some(rp) = self.at_route_point.as_mut() {
                    rp.accepted = true;
                }
                if let Some(a) = &self.a_invite {
                    let b = self.a_response(a, 180).finish();
                    a.respond(b).await;
                }
                let _ = reply.send(Ok(()));
                Next::Continue
            }
            RouteAction::Reject => {
                let _ = reply.send(Ok(()));
                self.leave_route_point();
                self.fail_caller(403, "rejected by the route point's application")
                    .await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notice(request: u64) -> Notice {
        Notice::LineState {
            line: format!("request {request}"),
            state: crate::calls::LineState::Ringing,
            call: Some(request),
        }
    }

    #[test]
    fn one_application_owns_a_route_point_until_it_goes() {
        let rp = RoutePoints::default();
        let (app1, _r1) = mpsc::channel(4);
        let (app2, _r2) = mpsc::channel(4);
        rp.register("1900", 1, app1.clone()).unwrap();
        rp.register("1900", 1, app1).unwrap();
        assert_eq!(
            rp.register("1900", 2, app2.clone()),
            Err(CtiError::Taken("route point 1900".into()))
        );
        rp.register("1901", 2, app2).unwrap();
        assert_eq!(rp.owned(), vec!["1900", "1901"]);
        rp.release(1);
        assert_eq!(rp.owned(), vec!["1901"]);
    }

    #[test]
    fn calls_are_offered_to_the_owner_and_fall_through_when_it_goes() {
        let rp = RoutePoints::default();
        let (app, mut requests) = mpsc::channel(4);
        let (call, mut call_events) = mpsc::channel(4);
        assert_eq!(rp.offer("1900", 7, &call, notice), None, "nobody owns it");
        rp.register("1900", 1, app).unwrap();
        let first = rp.offer("1900", 7, &call, notice).expect("offered");
        let second = rp.offer("1900", 8, &call, notice).expect("offered");
        assert_ne!(first, second, "each offer has its own request id");
        assert!(requests.try_recv().is_ok() && requests.try_recv().is_ok());
        rp.leave("1900", 8);
        // The application goes: the call still there hears it, at once.
        rp.release(1);
        assert!(matches!(
            call_events.try_recv(),
            Ok(Input::Control(Control::ApplicationLost))
        ));
        assert!(
            call_events.try_recv().is_err(),
            "the call that left hears nothing"
        );
    }

    #[test]
    fn an_application_that_does_not_keep_up_is_not_offered_more() {
        let rp = RoutePoints::default();
        let (app, _requests) = mpsc::channel(1);
        let (call, _events) = mpsc::channel(4);
        rp.register("1900", 1, app).unwrap();
        assert!(rp.offer("1900", 1, &call, notice).is_some());
        assert_eq!(
            rp.offer("1900", 2, &call, notice),
            None,
            "its queue is full"
        );
    }
}
