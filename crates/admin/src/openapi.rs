//! The OpenAPI 3.0 document of the admin API, generated from the store's catalogue, so it
//! cannot describe a field the API does not have.

use dialtone_store::catalogue::{self, Default as Dflt, Kind, Resource, TextRule};
use dialtone_store::parameters::PARAMETERS;
use dialtone_web::openapi::{error_responses, with, Paths};
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

/// The whole document (`base_url` is the HTTPS API's public address): the catalogue's
/// resources, parameters, bulk CSV, tokens and the Dialed Number Analyzer, joined with
/// `surfaces`, the paths the node's other surfaces serve.
pub fn document(base_url: &str, surfaces: &[Paths]) -> Value {
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
    // The paths of every other surface, each written beside its routes.
    paths.extend(surfaces.iter().flat_map(|p| p.clone()));
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
