//! Files the node serves from its own binary (WSDLs, the consoles' scripts and styles): each
//! answered with an ETag that is a hash of its content, so a browser or SOAP toolkit that
//! holds the current copy gets 304 Not Modified and a changed file is never served stale.

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

/// The ETag of a body: the first 128 bits of its SHA-256, quoted.
pub fn etag(body: &[u8]) -> String {
    format!("\"{}\"", hex::encode(&Sha256::digest(body)[..16]))
}

/// Whether an `If-None-Match` header names `tag` (or is `*`).
fn matches(headers: &HeaderMap, tag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == tag || t == "*")
}

/// Answer `body` to a request: 304 when the client's copy is current, else the body with its
/// ETag. Clients revalidate each time (`no-cache`), since the node's address may be in it.
pub fn respond(request: &HeaderMap, content_type: &'static str, body: Vec<u8>) -> Response {
    let tag = etag(&body);
    let tag_value = HeaderValue::from_str(&tag).expect("hex in quotes is a header value");
    let cache = HeaderValue::from_static("no-cache");
    if matches(request, &tag) {
        return (
            StatusCode::NOT_MODIFIED,
            [(header::ETAG, tag_value), (header::CACHE_CONTROL, cache)],
        )
            .into_response();
    }
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::ETAG, tag_value),
            (header::CACHE_CONTROL, cache),
        ],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_current_copy_gets_304_and_a_changed_one_the_body() {
        let first = respond(&HeaderMap::new(), "text/xml", b"<a/>".to_vec());
        assert_eq!(first.status(), StatusCode::OK);
        let tag = first.headers()[header::ETAG].clone();
        let mut again = HeaderMap::new();
        again.insert(header::IF_NONE_MATCH, tag.clone());
        assert_eq!(
            respond(&again, "text/xml", b"<a/>".to_vec()).status(),
            StatusCode::NOT_MODIFIED
        );
        let changed = respond(&again, "text/xml", b"<b/>".to_vec());
        assert_eq!(changed.status(), StatusCode::OK);
        assert_ne!(changed.headers()[header::ETAG], tag);
        let mut listed = HeaderMap::new();
        listed.insert(
            header::IF_NONE_MATCH,
            format!("\"x\", W/{}", tag.to_str().unwrap())
                .parse()
                .unwrap(),
        );
        assert_eq!(
            respond(&listed, "text/xml", b"<a/>".to_vec()).status(),
            StatusCode::NOT_MODIFIED
        );
    }
}
