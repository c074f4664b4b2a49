//! The REST API: authenticated reads and durable writes over HTTPS.

use super::*;

pub(crate) fn api_rows(binary: &str) -> Vec<Row> {
    let node = start_node(binary);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let base = node.https.clone();
    let get_rate = rt.block_on(rate(8, 5, 3.0, move |c, _| {
        c.get(format!("{base}/api/v1/users/user1000"))
            .basic_auth("admin", Some(PW))
    }));
    let base = node.https.clone();
    let post_rate = rt.block_on(rate(4, 5, 2.0, move |c, n| {
        c.post(format!("{base}/api/v1/directory-numbers"))
            .basic_auth("admin", Some(PW))
            .json(&serde_json::json!({"pattern": format!("7{n:07}"), "partition": "Internal_PT"}))
    }));
    vec![
        Row {
            name: "REST GET user, Basic auth, HTTPS, 8 clients",
            median: get_rate,
            unit: "req/s",
            target: "-",
            anchor: "-".into(),
        },
        Row {
            name: "REST POST directory number (durable), 4 clients",
            median: post_rate,
            unit: "req/s",
            target: "-",
            anchor: "-".into(),
        },
    ]
}
