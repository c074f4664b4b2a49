//! CTI's messages as JSON, for every transport: a request `{"op": ..., "id": N, ...}` is an
//! [`Op`]; its answer `{"reply": N, "ok": true, ...}` or `{"reply": N, "ok": false, "status":
//! 4xx, "error": "..."}`. REST requests map to the same operations (the path gives `op` and
//! its keys); `docs/cti.md` documents these shapes, and they are written only here.

use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::{Command, CtiError, CtiSession, Error, MakeCall, RouteAction};

/// One operation.
#[derive(Debug, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    Watch {
        #[serde(default)]
        lines: Vec<String>,
        #[serde(default)]
        devices: Vec<String>,
    },
    Unwatch {
        #[serde(default)]
        lines: Vec<String>,
        #[serde(default)]
        devices: Vec<String>,
    },
    Snapshot,
    MakeCall(MakeCall),
    Command {
        call: u64,
        #[serde(default)]
        party: Option<String>,
        #[serde(flatten)]
        command: Command,
    },
    Unpark {
        slot: String,
        line: String,
    },
    Reset {
        device: String,
        #[serde(default)]
        restart: bool,
    },
    RegisterRoutePoint {
        number: String,
    },
    Route {
        call: u64,
        request: u64,
        #[serde(flatten)]
        action: RouteAction,
    },
}

impl Op {
    /// Operations that change what the connection itself is (its watches, its route points,
    /// its snapshot): they run in the connection's order. The others may run beside it.
    pub fn is_local(&self) -> bool {
        matches!(
            self,
            Op::Watch { .. } | Op::Unwatch { .. } | Op::Snapshot | Op::RegisterRoutePoint { .. }
        )
    }
}

/// An operation from the members of a JSON object (`op` among them).
pub fn op_from(map: Map<String, Value>) -> Result<Op, Error> {
    serde_json::from_value::<Op>(Value::Object(map)).map_err(|e| Error::invalid("", e))
}

/// A WebSocket request: its `id` (null when it has none or cannot be read) and its operation.
pub fn parse_request(text: &str) -> (Value, Result<Op, Error>) {
    let mut v: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => return (Value::Null, Err(Error::invalid("", e))),
    };
    let Some(map) = v.as_object_mut() else {
        return (
            Value::Null,
            Err(Error::invalid("", "a request is a JSON object")),
        );
    };
    let id = map.remove("id").unwrap_or(Value::Null);
    if !map.contains_key("op") {
        return (id, Err(Error::invalid("op", "missing")));
    }
    let op = op_from(std::mem::take(map));
    (id, op)
}

/// Carry out `op` in `session`: the answer's members.
pub async fn run(session: &mut CtiSession, op: Op) -> Result<Value, Error> {
    Ok(match op {
        Op::Watch { lines, devices } => json!({ "watching": session.watch(lines, devices)? }),
        Op::Unwatch { lines, devices } => {
            json!({ "watching": session.unwatch(lines, devices)? })
        }
        Op::Snapshot => serde_json::to_value(session.snapshot()).unwrap_or_default(),
        Op::MakeCall(req) => json!({ "call": session.make_call(req).await? }),
        Op::Command {
            call,
            party,
            command,
        } => {
            session.command(call, party, command).await?;
            json!({ "call": call })
        }
        Op::Unpark { slot, line } => json!({ "call": session.unpark(&slot, &line).await? }),
        Op::Reset { device, restart } => {
            let n = session.reset(&device, restart).await?;
            json!({ "device": device, "contacts": n })
        }
        Op::RegisterRoutePoint { number } => {
            session.register_route_point(&number)?;
            json!({ "route_point": number })
        }
        Op::Route {
            call,
            request,
            action,
        } => {
            session.route(call, request, action).await?;
            json!({ "call": call })
        }
    })
}

/// The HTTP status that says why: the same in a WebSocket reply and a REST answer.
pub fn status(e: &Error) -> u16 {
    match e {
        Error::Call(c) => match c {
            CtiError::NoSuchCall(_)
            | CtiError::NoSuchLine(_)
            | CtiError::NoSuchDevice(_)
            | CtiError::NoSuchSlot(_) => 404,
            CtiError::NotAParty(_) | CtiError::Unroutable { .. } => 422,
            CtiError::NotRegistered(_) | CtiError::State(_) | CtiError::Taken(_) => 409,
            CtiError::Device(_) => 502,
        },
        Error::Forbidden(_) => 403,
        Error::Invalid { .. } => 400,
        Error::Store(dialtone_store::StoreError::NotFound { .. }) => 404,
        Error::Store(_) => 500,
    }
}

/// A refusal as a WebSocket reply.
pub fn error_reply(id: Value, e: &Error) -> Value {
    json!({ "reply": id, "ok": false, "status": status(e), "error": e.to_string() })
}

/// An answer as a WebSocket reply.
pub fn reply(id: Value, r: Result<Value, Error>) -> Value {
    match r {
        Ok(mut v) => {
            if let Some(m) = v.as_object_mut() {
                m.insert("reply".into(), id);
                m.insert("ok".into(), true.into());
            }
            v
        }
        Err(e) => error_reply(id, &e),
    }
}

/// Word that a watcher missed events (a snapshot follows).
pub fn lagged(missed: u64) -> Value {
    json!({"event": "lagged", "missed": missed})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_parse_with_their_commands_and_reject_unknown_fields() {
        let (id, op) = parse_request(
            r#"{"id": 7, "op": "command", "call": 3, "party": "1001", "command": "redirect", "destination": "1002"}"#,
        );
        let op = op.unwrap();
        assert_eq!(id, json!(7));
        match op {
            Op::Command {
                call: 3,
                party: Some(p),
                command: Command::Redirect { destination },
            } => {
                assert_eq!(p, "1001");
                assert_eq!(destination, "1002");
            }
            other => panic!("{other:?}"),
        }
        let op = parse_request(r#"{"op": "route", "call": 1, "request": 2, "action": "accept"}"#)
            .1
            .unwrap();
        assert!(matches!(
            op,
            Op::Route {
                action: RouteAction::Accept,
                ..
            }
        ));
        let (id, e) =
            parse_request(r#"{"id": "x", "op": "command", "call": 1, "command": "explode"}"#);
        let e = e.unwrap_err();
        assert_eq!(id, json!("x"));
        assert_eq!(status(&e), 400);
        assert!(parse_request(r#"{"op": "make_call", "line": "1001"}"#)
            .1
            .is_err());
        assert!(parse_request("[1]").1.is_err());
    }
}
