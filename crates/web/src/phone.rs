//! What phone-facing pages share: reading query parameters the way phones and scripts send
//! them, answering a phone object the way phones want it, and whether a request came over
//! HTTPS (its links then stay on HTTPS).

use std::collections::HashMap;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use dialtone_phone_xml::Object;

/// Whether the request came over HTTPS: links then stay on HTTPS.
#[derive(Clone, Copy)]
pub struct Secure(pub bool);

/// A phone object as phones want it: declared encoding, `text/xml`, and nothing else a fussy
/// phone could trip on.
pub fn xml_response(object: &Object, refresh: Option<String>) -> Response {
    match object.to_xml() {
        Ok(body) => {
            let mut resp = (
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/xml; charset=utf-8"),
                )],
                body,
            )
                .into_response();
            if let Some(r) = refresh.and_then(|r| HeaderValue::from_str(&r).ok()) {
                resp.headers_mut().insert(header::REFRESH, r);
            }
            resp
        }
        Err(e) => {
            tracing::error!(error = %e, object = object.root_name(), "phone object breaks a limit");
            (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response()
        }
    }
}

/// A query parameter, by name without regard to case (phones and scripts differ), even empty.
pub fn query_param<'a>(q: &'a HashMap<String, String>, name: &str) -> Option<&'a str> {
    q.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_found_whatever_their_case() {
        let q: HashMap<String, String> = [("Name".to_string(), "SEP1".to_string())].into();
        assert_eq!(query_param(&q, "name"), Some("SEP1"));
        assert_eq!(query_param(&q, "NAME"), Some("SEP1"));
        assert_eq!(query_param(&q, "device"), None);
    }
}
