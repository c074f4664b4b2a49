//! Pieces of the OpenAPI document each surface writes for its own paths: the node joins every
//! application's fragment with the catalogue's generated paths into `/api/v1/openapi.json`.

use serde_json::{json, Map, Value};

/// The paths one surface serves, keyed by path (`"/api/v1/em/login"`), as OpenAPI path items.
pub type Paths = Map<String, Value>;

/// OpenAPI responses for error statuses, each the shared `Error` schema.
pub fn error_responses(codes: &[&str]) -> Map<String, Value> {
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

/// `base` with one more response.
pub fn with(mut base: Map<String, Value>, code: &str, v: Value) -> Value {
    base.insert(code.to_string(), v);
    Value::Object(base)
}
