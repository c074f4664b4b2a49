//! The OpenAPI 3.0 document of the admin API, generated from the store's catalogue, so it
//! cannot describe a field the API does not have.

use dialtone_store::catalogue::{self, Default as Dflt, Kind, Resource, TextRule};
use dialtone_store::parameters::PARAMETERS;
use serde_json::{json, Map, Value};

fn key_schema(target: &str) -> Value {
    let t = catalogue::resource(target).expect("catalogue references name real resources");
    if t.key.len() == 1 {
        json!({"type": "string", "description": format!("The {}'s {}.", t.singular, t.key[0])})
    } else {
        let mut props = Map::new();
        for k in t.key {
            let f = t.field(k).expect("key fields exist");
            props.insert((*k).to_string(), field_schema(f));
        }
        json!({
            "type": "object",
            "additionalProperties": false,
            "properties": props,
            "description": format!("The {} named by {}.", t.singular, t.key.join(" and ")),
        })
    }
}

fn nullable(mut v: Value, yes: bool) -> Value {
    if yes {
        v["nullable"] = Value::Bool(true);
    }
    v
}

fn field_schema(f: &catalogue::Field) -> Value {
    let can_be_null = matches!(f.default, Dflt::Null);
    let mut s = match f.kind {
        Kind::Text { max, rule } => {
            let mut s = json!({"type": "string", "maxLength": max});
            if rule == TextRule::Name {
                s["minLength"] = json!(1);
            }
            nullable(s, can_be_null)
        }
        Kind::Int { min, max } => json!({"type": "integer", "minimum": min, "maximum": max}),
        Kind::Bool => json!({"type": "boolean"}),
        Kind::Enum(values) => json!({"type": "string", "enum": values}),
        Kind::Ref { target, .. } => nullable(key_schema(target), can_be_null),
        Kind::RefList { target, .. } => json!({"type": "array", "items": key_schema(target)}),
        Kind::EnumList { values, .. } => {
            json!({"type": "array", "items": {"type": "string", "enum": values}})
        }
        Kind::Secret(_) => json!({"type": "string", "writeOnly": true, "nullable": true}),
    };
    s["description"] = Value::String(f.doc.to_string());
    match f.default {
        Dflt::Str(d) if !matches!(f.kind, Kind::Ref { .. }) => s["default"] = json!(d),
        Dflt::Int(i) => s["default"] = json!(i),
        Dflt::Bool(b) => s["default"] = json!(b),
        _ => {}
    }
    s
}

fn schema_name(res: &Resource) -> String {
    res.name
        .split('-')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

fn resource_schema(res: &Resource) -> Value {
    let mut props = Map::new();
    props.insert(
        "id".into(),
        json!({"type": "string", "readOnly": true, "description": "Stable id (a UUID)."}),
    );
    let mut required = Vec::new();
    for f in res.fields {
        props.insert(f.name.to_string(), field_schema(f));
        if let Kind::Secret(_) = f.kind {
            props.insert(
                format!("{}_set", f.name),
                json!({"type": "boolean", "readOnly": true, "description": format!("Whether {} is set.", f.name)}),
            );
        }
        if matches!(f.default, Dflt::Required) {
            required.push(f.name);
        }
    }
    let mut s = json!({
        "type": "object",
        "description": res.doc,
        "additionalProperties": false,
        "properties": props,
    });
    if !required.is_empty() {
        s["required"] = json!(required);
    }
    s
}

fn error_responses(codes: &[&str]) -> Map<String, Value> {
    let mut m = Map::new();
    for c in codes {
        let desc = match *c {
            "400" => "Malformed JSON",
            "401" => "Missing or wrong credentials",
            "403" => "Not an administrator",
            "404" => "No such record",
            "409" => "Conflicts with an existing record, or the record is in use",
            "413" => "Body too large",
            "415" => "Body is not JSON",
            "422" => "A field failed validation (named in `field`)",
            "429" => "Too many requests at once: try again after Retry-After",
            "503" => "A service this needs is unavailable",
            _ => "Error",
        };
        m.insert(
            (*c).to_string(),
            json!({"description": desc, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}),
        );
    }
    m
}

fn with(mut base: Map<String, Value>, code: &str, v: Value) -> Value {
    base.insert(code.to_string(), v);
    Value::Object(base)
}

/// CTI's REST half (served by the node beside this API; the protocol, with the WebSocket, is
/// in docs/cti.md).
fn cti_paths(paths: &mut Map<String, Value>) {
    let errors = || error_responses(&["400", "401", "403", "404", "409", "422"]);
    let call_id = json!({"type": "object", "properties": {"call": {"type": "integer"}}});
    let ok = |what: &str| json!({"description": what, "content": {"application/json": {"schema": call_id.clone()}}});
    let any = json!({"description": "As docs/cti.md describes", "content": {"application/json": {"schema": {"type": "object"}}}});
    let path = |name: &str, desc: &str| json!({"name": name, "in": "path", "required": true, "description": desc, "schema": {"type": "string"}});
    paths.insert(
        "/api/v1/cti/calls".into(),
        json!({
            "get": {"tags": ["cti"], "operationId": "ctiCalls", "summary": "Calls the application user may control",
                    "responses": with(errors(), "200", any.clone())},
            "post": {"tags": ["cti"], "operationId": "ctiMakeCall",
                     "summary": "MakeCall: the line's phone answers by itself, then the destination rings",
                     "requestBody": {"required": true, "content": {"application/json": {"schema": {
                        "type": "object", "required": ["line", "destination"],
                        "properties": {"line": {"type": "string"}, "destination": {"type": "string"}, "device": {"type": "string"}}}}}},
                     "responses": with(errors(), "201", ok("The call placed"))},
        }),
    );
    let mut command_errors = errors();
    command_errors.insert(
        "502".into(),
        json!({"description": "The phone refused or did not answer"}),
    );
    paths.insert(
        "/api/v1/cti/calls/{call}/{command}".into(),
        json!({
            "parameters": [
                {"name": "call", "in": "path", "required": true, "schema": {"type": "integer"}},
                {"name": "command", "in": "path", "required": true, "schema": {"type": "string", "enum": [
                    "drop", "answer", "hold", "retrieve", "redirect", "transfer", "park", "send_digits"]}},
            ],
            "post": {"tags": ["cti"], "operationId": "ctiCommand", "summary": "A command on a call",
                     "requestBody": {"content": {"application/json": {"schema": {"type": "object", "properties": {
                        "party": {"type": "string", "description": "Line or device whose side acts (the calling side by default)"},
                        "device": {"type": "string"}, "destination": {"type": "string"},
                        "consult_call": {"type": "integer"}, "slot": {"type": "string"}, "digits": {"type": "string"}}}}}},
                     "responses": with(command_errors, "200", ok("Done"))},
        }),
    );
    paths.insert(
        "/api/v1/cti/lines/{number}".into(),
        json!({"parameters": [path("number", "A directory number")],
               "get": {"tags": ["cti"], "operationId": "ctiLine", "summary": "A line's state, registered phones and calls",
                       "responses": with(errors(), "200", any.clone())}}),
    );
    paths.insert(
        "/api/v1/cti/parks".into(),
        json!({"get": {"tags": ["cti"], "operationId": "ctiParks", "summary": "The application user's park slots in use",
                       "responses": with(errors(), "200", any.clone())}}),
    );
    paths.insert(
        "/api/v1/cti/parks/{slot}/unpark".into(),
        json!({"parameters": [path("slot", "A park slot")],
               "post": {"tags": ["cti"], "operationId": "ctiUnpark", "summary": "Ring a line with the call parked in the slot",
                        "requestBody": {"required": true, "content": {"application/json": {"schema": {
                            "type": "object", "required": ["line"], "properties": {"line": {"type": "string"}}}}}},
                        "responses": with(errors(), "200", ok("Unparking"))}}),
    );
    paths.insert(
        "/api/v1/cti/devices/{name}/{action}".into(),
        json!({"parameters": [path("name", "A device name"),
                              {"name": "action", "in": "path", "required": true, "schema": {"type": "string", "enum": ["reset", "restart"]}}],
               "post": {"tags": ["cti"], "operationId": "ctiDevice", "summary": "Reset or restart a registered phone (SIP NOTIFY)",
                        "responses": with(errors(), "200", any.clone())}}),
    );
    paths.insert(
        "/api/v1/cti/events".into(),
        json!({"get": {"tags": ["cti"], "operationId": "ctiEvents", "summary": "Events of lines and devices (Server-Sent Events): a snapshot, then events",
                       "parameters": [
                           {"name": "lines", "in": "query", "schema": {"type": "string"}, "description": "Comma-separated directory numbers"},
                           {"name": "devices", "in": "query", "schema": {"type": "string"}, "description": "Comma-separated device names"}],
                       "responses": with(errors(), "200", json!({"description": "An event stream", "content": {"text/event-stream": {"schema": {"type": "string"}}}}))}}),
    );
    paths.insert(
        "/api/v1/cti/ws".into(),
        json!({"get": {"tags": ["cti"], "operationId": "ctiWebSocket",
                       "summary": "The CTI WebSocket (JSON requests, replies and events; see docs/cti.md)",
                       "responses": with(error_responses(&["401", "403"]), "101", json!({"description": "Switching to the WebSocket protocol"}))}}),
    );
}

/// The whole document; `base_url` is the HTTPS API's public address.
/// Extension Mobility for administrators, served by the mobility crate.
fn em_paths(paths: &mut Map<String, Value>) {
    let errors = || error_responses(&["400", "401", "403", "404", "409", "422"]);
    let login = json!({"type": "object", "properties": {
        "device": {"type": "string"}, "user": {"type": "string"}, "profile": {"type": "string"},
        "login_at_ms": {"type": "integer"}, "expires_at_ms": {"type": "integer", "nullable": true}}});
    let ok = |code: &str, what: &str| {
        with(
            errors(),
            code,
            json!({"description": what, "content": {"application/json": {"schema": login.clone()}}}),
        )
    };
    paths.insert(
        "/api/v1/em/logins".into(),
        json!({"get": {"tags": ["em"], "operationId": "emLogins", "summary": "Who is logged in where, since when, until when",
                       "responses": with(errors(), "200", json!({"description": "The logins",
                           "content": {"application/json": {"schema": {"type": "object", "properties": {
                               "items": {"type": "array", "items": login.clone()}}}}}}))}}),
    );
    paths.insert(
        "/api/v1/em/login".into(),
        json!({"post": {"tags": ["em"], "operationId": "emLogin",
                        "summary": "Log a user in to a phone (its default device profile unless one is named); the phone is reset",
                        "requestBody": {"required": true, "content": {"application/json": {"schema": {
                            "type": "object", "required": ["device", "user"], "additionalProperties": false,
                            "properties": {"device": {"type": "string"}, "user": {"type": "string"},
                                           "profile": {"type": "string"},
                                           "duration_seconds": {"type": "integer", "minimum": 1}}}}}},
                        "responses": ok("201", "Logged in")}}),
    );
    paths.insert(
        "/api/v1/em/logout".into(),
        json!({"post": {"tags": ["em"], "operationId": "emLogout", "summary": "Log out (or force out) whoever is logged in to a phone",
                        "requestBody": {"required": true, "content": {"application/json": {"schema": {
                            "type": "object", "required": ["device"], "additionalProperties": false,
                            "properties": {"device": {"type": "string"}}}}}},
                        "responses": ok("200", "The login that ended")}}),
    );
    paths.insert(
        "/api/v1/em/users/{user}".into(),
        json!({"parameters": [{"name": "user", "in": "path", "required": true, "schema": {"type": "string"}}],
               "get": {"tags": ["em"], "operationId": "emUserDevices", "summary": "The phones a user is logged in to",
                       "responses": with(errors(), "200", json!({"description": "Devices",
                           "content": {"application/json": {"schema": {"type": "object", "properties": {
                               "user": {"type": "string"}, "devices": {"type": "array", "items": {"type": "string"}}}}}}}))}}),
    );
}

/// WebDialer's JSON API (served by the webdialer crate). Failures carry WebDialer's `code`
/// (0-9) beside the usual error body.
fn webdialer_paths(paths: &mut Map<String, Value>) {
    let errors = || error_responses(&["400", "401", "403", "409", "422", "429", "503"]);
    let placed = json!({"type": "object", "properties": {
        "code": {"type": "integer"}, "description": {"type": "string"}, "call": {"type": "integer"},
        "user": {"type": "string"}, "device": {"type": "string"}, "line": {"type": "string"},
        "destination": {"type": "string"}}});
    let target = json!({"user": {"type": "string", "description": "The user the call is for (application users with Standard WebDialer Proxy Rights); empty: the caller"},
        "device": {"type": "string"}, "line": {"type": "string"},
        "use_em": {"type": "boolean", "description": "Use the phone the user is logged in to (Extension Mobility); absent: the saved preference"}});
    let mut call_props = target.as_object().cloned().unwrap_or_default();
    call_props.insert("destination".into(), json!({"type": "string", "description": "Digits; spaces, dashes, dots and brackets are dropped"}));
    call_props.insert(
        "fac".into(),
        json!({"type": "string", "description": "Forced Authorization Code, appended after #"}),
    );
    call_props.insert(
        "cmc".into(),
        json!({"type": "string", "description": "Client Matter Code, appended after #"}),
    );
    let preferences = json!({"type": "object", "additionalProperties": false, "properties": {
        "use_em": {"type": "boolean"}, "device": {"type": "string", "nullable": true},
        "line": {"type": "string", "nullable": true}, "dont_auto_close": {"type": "boolean"},
        "dont_show_call_conf": {"type": "boolean"}}});
    paths.insert(
        "/api/v1/webdialer/sessions".into(),
        json!({
            "post": {"tags": ["webdialer"], "operationId": "webdialerOpenSession",
                     "summary": "An end user's password (HTTP Basic) for a WebDialer bearer token lasting the User Session Expiry",
                     "security": [{"basic": []}],
                     "responses": with(errors(), "201", json!({"description": "A session", "content": {"application/json": {"schema": {
                        "type": "object", "properties": {"token": {"type": "string"}, "token_type": {"type": "string"},
                        "user": {"type": "string"}, "expires_at_ms": {"type": "integer", "nullable": true}}}}}}))},
            "delete": {"tags": ["webdialer"], "operationId": "webdialerCloseSession", "summary": "End the session whose token is sent",
                       "security": [{"bearer": []}],
                       "responses": with(errors(), "204", json!({"description": "Ended"}))},
        }),
    );
    paths.insert(
        "/api/v1/webdialer/calls".into(),
        json!({"post": {"tags": ["webdialer"], "operationId": "webdialerMakeCall",
                        "summary": "Call a number from the user's phone: it rings (and answers by itself where it can), then the destination",
                        "requestBody": {"required": true, "content": {"application/json": {"schema": {
                            "type": "object", "required": ["destination"], "additionalProperties": false,
                            "properties": call_props}}}},
                        "responses": with(errors(), "201", json!({"description": "Placed (code 0)", "content": {"application/json": {"schema": placed}}}))}}),
    );
    paths.insert(
        "/api/v1/webdialer/calls/end".into(),
        json!({"post": {"tags": ["webdialer"], "operationId": "webdialerEndCall",
                        "summary": "Hang up the newest call on the user's phone and line",
                        "requestBody": {"content": {"application/json": {"schema": {
                            "type": "object", "additionalProperties": false, "properties": target}}}},
                        "responses": with(errors(), "200", json!({"description": "Ended (code 0)"}))}}),
    );
    paths.insert(
        "/api/v1/webdialer/profile".into(),
        json!({"get": {"tags": ["webdialer"], "operationId": "webdialerProfile",
                       "summary": "The devices and lines a user may call from, and their primary line",
                       "parameters": [{"name": "user", "in": "query", "schema": {"type": "string"}}],
                       "responses": with(errors(), "200", json!({"description": "The profile"}))}}),
    );
    paths.insert(
        "/api/v1/webdialer/preferences".into(),
        json!({
            "get": {"tags": ["webdialer"], "operationId": "webdialerPreferences", "summary": "The user's own saved preferences",
                    "responses": with(errors(), "200", json!({"description": "Preferences"}))},
            "put": {"tags": ["webdialer"], "operationId": "webdialerSavePreferences", "summary": "Save the user's preferences (the device must be theirs)",
                    "requestBody": {"required": true, "content": {"application/json": {"schema": preferences}}},
                    "responses": with(errors(), "200", json!({"description": "Saved"}))},
        }),
    );
    paths.insert(
        "/api/v1/webdialer/cluster-users/{user}".into(),
        json!({"parameters": [{"name": "user", "in": "path", "required": true, "schema": {"type": "string"}}],
               "get": {"tags": ["webdialer"], "operationId": "webdialerIsClusterUser", "summary": "Whether the user is this cluster's (isClusterUser; no credentials)",
                       "security": [],
                       "responses": with(errors(), "200", json!({"description": "The answer", "content": {"application/json": {"schema": {
                           "type": "object", "properties": {"user": {"type": "string"}, "cluster_user": {"type": "boolean"}}}}}}))}}),
    );
}

/// Push to phones (`/CGI/Execute`), served by the IP Phone Services crate.
fn push_paths(paths: &mut Map<String, Value>) {
    let errors = || error_responses(&["400", "401", "403", "404", "422"]);
    let item = json!({"type": "object", "properties": {
        "status": {"type": "integer"}, "data": {"type": "string"}, "url": {"type": "string"}}});
    let report = json!({"type": "object", "required": ["device", "status", "message"], "properties": {
        "device": {"type": "string"},
        "status": {"type": "string", "enum": ["ok", "phone_error", "not_registered", "unknown_device", "unsupported", "unreachable", "bad_response"]},
        "address": {"type": "string"}, "error_number": {"type": "integer"},
        "items": {"type": "array", "items": item}, "message": {"type": "string"}}});
    let body = |devices: bool| {
        let mut props = json!({
            "xml": {"type": "string", "description": "A CiscoIPPhone object (CiscoIPPhoneExecute, CiscoIPPhoneText, ...)"},
            "user_id": {"type": "string", "description": "Credentials the phone checks with its Authentication URL; the caller's own Basic credentials when left out"},
            "password": {"type": "string", "format": "password"}});
        let mut required = vec!["xml"];
        if devices {
            props["devices"] =
                json!({"type": "array", "items": {"type": "string"}, "maxItems": 10000});
            required.push("devices");
        }
        json!({"required": true, "content": {"application/json": {"schema": {
            "type": "object", "required": required, "properties": props, "additionalProperties": false}}}})
    };
    paths.insert(
        "/api/v1/devices/{name}/push".into(),
        json!({"parameters": [{"name": "name", "in": "path", "required": true, "schema": {"type": "string"}}],
               "post": {"tags": ["push"], "operationId": "pushDevice",
                        "summary": "Push an object to a registered phone's /CGI/Execute and report its answer",
                        "requestBody": body(false),
                        "responses": with(errors(), "200", json!({"description": "What the phone did",
                            "content": {"application/json": {"schema": report.clone()}}}))}}),
    );
    paths.insert(
        "/api/v1/push".into(),
        json!({"post": {"tags": ["push"], "operationId": "pushDevices",
                        "summary": "Push an object to many phones at once (within phones.push_concurrency)",
                        "requestBody": body(true),
                        "responses": with(errors(), "200", json!({"description": "One report per device, in order",
                            "content": {"application/json": {"schema": {"type": "object", "properties": {
                                "ok": {"type": "integer"}, "failed": {"type": "integer"},
                                "results": {"type": "array", "items": report}}}}}}))}}),
    );
}

pub fn document(base_url: &str) -> Value {
    let mut paths = Map::new();
    let mut schemas = Map::new();
    schemas.insert(
        "Error".into(),
        json!({
            "type": "object",
            "properties": {
                "error": {"type": "string"},
                "field": {"type": "string"},
                "details": {},
            },
            "required": ["error"],
        }),
    );
    for res in catalogue::RESOURCES {
        let name = schema_name(res);
        let r = json!({"$ref": format!("#/components/schemas/{name}")});
        schemas.insert(name.clone(), resource_schema(res));
        let mut list_params = vec![
            json!({"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}}),
            json!({"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0, "default": 0}}),
            json!({"name": "q", "in": "query", "description": format!("Prefix of {}.", res.key[0]), "schema": {"type": "string"}}),
        ];
        for f in res.fields {
            if matches!(
                f.kind,
                Kind::Text { .. }
                    | Kind::Int { .. }
                    | Kind::Bool
                    | Kind::Enum(_)
                    | Kind::Ref { .. }
            ) && !(matches!(f.kind, Kind::Ref { target, .. } if catalogue::resource(target).is_some_and(|t| t.key.len() > 1)))
            {
                list_params.push(json!({"name": f.name, "in": "query", "description": "Exact match.", "schema": {"type": "string"}}));
            }
        }
        let tag = res.name;
        paths.insert(
            format!("/api/v1/{}", res.name),
            json!({
                "get": {
                    "tags": [tag],
                    "summary": format!("List {}", res.name.replace('-', " ")),
                    "operationId": format!("list{name}"),
                    "parameters": list_params,
                    "responses": with(error_responses(&["401", "403", "422"]), "200", json!({
                        "description": "A page of records",
                        "content": {"application/json": {"schema": {
                            "type": "object",
                            "properties": {
                                "items": {"type": "array", "items": r},
                                "total": {"type": "integer"},
                                "limit": {"type": "integer"},
                                "offset": {"type": "integer"},
                            },
                        }}},
                    })),
                },
                "post": {
                    "tags": [tag],
                    "summary": format!("Create a {}", res.singular),
                    "operationId": format!("create{name}"),
                    "requestBody": {"required": true, "content": {"application/json": {"schema": r}}},
                    "responses": with(error_responses(&["400", "401", "403", "409", "413", "415", "422"]), "201", json!({
                        "description": "Created",
                        "content": {"application/json": {"schema": r}},
                    })),
                },
            }),
        );
        let key_param = json!({
            "name": "key", "in": "path", "required": true,
            "description": if res.key.len() == 1 { format!("The id or the {}.", res.key[0]) } else { "The id.".to_string() },
            "schema": {"type": "string"},
        });
        paths.insert(
            format!("/api/v1/{}/{{key}}", res.name),
            json!({
                "parameters": [key_param],
                "get": {
                    "tags": [tag],
                    "operationId": format!("get{name}"),
                    "summary": format!("Read a {}", res.singular),
                    "responses": with(error_responses(&["401", "403", "404"]), "200", json!({
                        "description": "The record", "content": {"application/json": {"schema": r}},
                    })),
                },
                "patch": {
                    "tags": [tag],
                    "operationId": format!("update{name}"),
                    "summary": format!("Change fields of a {}", res.singular),
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object"}}}},
                    "responses": with(error_responses(&["400", "401", "403", "404", "409", "413", "415", "422"]), "200", json!({
                        "description": "The record as changed", "content": {"application/json": {"schema": r}},
                    })),
                },
                "delete": {
                    "tags": [tag],
                    "operationId": format!("delete{name}"),
                    "summary": format!("Delete a {} (refused while in use)", res.singular),
                    "responses": with(error_responses(&["401", "403", "404", "409"]), "204", json!({"description": "Deleted"})),
                },
            }),
        );
        paths.insert(
            format!("/api/v1/bulk/{}", res.name),
            json!({
                "get": {
                    "tags": ["bulk"],
                    "operationId": format!("export{name}"),
                    "summary": format!("Export every {} as CSV", res.singular),
                    "responses": with(error_responses(&["401", "403"]), "200", json!({
                        "description": "CSV", "content": {"text/csv": {"schema": {"type": "string"}}},
                    })),
                },
                "post": {
                    "tags": ["bulk"],
                    "operationId": format!("import{name}"),
                    "summary": format!("Import {} from CSV, all or nothing", res.name.replace('-', " ")),
                    "requestBody": {"required": true, "content": {"text/csv": {"schema": {"type": "string"}}}},
                    "responses": with(error_responses(&["401", "403", "413", "422"]), "200", json!({
                        "description": "Imported",
                        "content": {"application/json": {"schema": {"type": "object", "properties": {"imported": {"type": "integer"}}}}},
                    })),
                },
            }),
        );
    }
    let scopes: Vec<&str> = {
        let mut s: Vec<&str> = PARAMETERS.iter().map(|p| p.scope).collect();
        s.dedup();
        s
    };
    schemas.insert(
        "Parameter".into(),
        json!({
            "type": "object",
            "properties": {
                "scope": {"type": "string", "enum": scopes},
                "name": {"type": "string"},
                "display_name": {"type": "string"},
                "type": {"type": "string", "enum": ["boolean", "integer", "enum", "string"]},
                "value": {}, "default": {}, "is_default": {"type": "boolean"},
                "minimum": {"type": "integer", "nullable": true},
                "maximum": {"type": "integer", "nullable": true},
                "values": {"type": "array", "nullable": true, "items": {"type": "string"}},
                "doc": {"type": "string"},
            },
        }),
    );
    let p = json!({"$ref": "#/components/schemas/Parameter"});
    paths.insert(
        "/api/v1/parameters".into(),
        json!({"get": {
            "tags": ["parameters"], "operationId": "listParameters",
            "summary": "Enterprise and service parameters with their values",
            "responses": with(error_responses(&["401", "403"]), "200", json!({
                "description": "Every parameter",
                "content": {"application/json": {"schema": {"type": "object", "properties": {"items": {"type": "array", "items": p}}}}},
            })),
        }}),
    );
    paths.insert(
        "/api/v1/parameters/{scope}/{name}".into(),
        json!({
            "parameters": [
                {"name": "scope", "in": "path", "required": true, "schema": {"type": "string", "enum": scopes}},
                {"name": "name", "in": "path", "required": true, "schema": {"type": "string"}},
            ],
            "get": {"tags": ["parameters"], "operationId": "getParameter", "summary": "Read a parameter",
                    "responses": with(error_responses(&["401", "403", "404"]), "200", json!({"description": "The parameter", "content": {"application/json": {"schema": p}}}))},
            "put": {"tags": ["parameters"], "operationId": "setParameter", "summary": "Set a parameter",
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["value"], "properties": {"value": {}}, "additionalProperties": false}}}},
                    "responses": with(error_responses(&["400", "401", "403", "404", "415", "422"]), "200", json!({"description": "The parameter", "content": {"application/json": {"schema": p}}}))},
            "delete": {"tags": ["parameters"], "operationId": "resetParameter", "summary": "Return a parameter to its default",
                    "responses": with(error_responses(&["401", "403", "404"]), "200", json!({"description": "The parameter", "content": {"application/json": {"schema": p}}}))},
        }),
    );
    paths.insert(
        "/api/v1/dna".into(),
        json!({"get": {
            "tags": ["dial plan"], "operationId": "analyseNumber",
            "summary": "Dialed Number Analyzer: how the stored dial plan routes a number, and why",
            "parameters": [
                {"name": "digits", "in": "query", "required": true, "schema": {"type": "string"}, "description": "The dialled number; codes after '#'."},
                {"name": "css", "in": "query", "required": false, "schema": {"type": "array", "items": {"type": "string"}}, "style": "form", "explode": true,
                 "description": "Calling search spaces in search order (the line's, then the device's)."},
                {"name": "calling", "in": "query", "schema": {"type": "string"}},
                {"name": "device_pool", "in": "query", "schema": {"type": "string"}, "description": "Resolves the Standard Local Route Group."},
                {"name": "external_mask", "in": "query", "schema": {"type": "string"}},
                {"name": "mode", "in": "query", "schema": {"type": "string", "enum": ["enbloc", "overlap"], "default": "enbloc"}},
            ],
            "responses": with(error_responses(&["401", "403", "409", "422"]), "200", json!({
                "description": "The decision and its explanation",
                "content": {"application/json": {"schema": {"type": "object", "properties": {"result": {"type": "object"}, "explanation": {"type": "object"}}}}},
            })),
        }}),
    );
    paths.insert(
        "/api/v1/auth/token".into(),
        json!({
            "post": {"tags": ["auth"], "operationId": "issueToken", "summary": "Exchange Basic credentials for a bearer token",
                     "security": [{"basic": []}],
                     "responses": with(error_responses(&["401"]), "201", json!({"description": "A token", "content": {"application/json": {"schema": {
                        "type": "object", "properties": {"token": {"type": "string"}, "token_type": {"type": "string"}, "expires_at_ms": {"type": "integer"}}}}}}))},
            "delete": {"tags": ["auth"], "operationId": "revokeToken", "summary": "Revoke the bearer token sent",
                       "security": [{"bearer": []}],
                       "responses": with(error_responses(&["401"]), "204", json!({"description": "Revoked"}))},
        }),
    );
    cti_paths(&mut paths);
    push_paths(&mut paths);
    em_paths(&mut paths);
    webdialer_paths(&mut paths);
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "Dialtone administration API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Unified CM's administrator model as JSON. References are given and shown by natural key (names; {pattern, partition} for numbers). Secrets are write-only.",
            "license": {"name": "MIT OR Apache-2.0"},
        },
        "servers": [{"url": base_url}],
        "security": [{"basic": []}, {"bearer": []}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "basic": {"type": "http", "scheme": "basic"},
                "bearer": {"type": "http", "scheme": "bearer"},
            },
        },
    })
}
