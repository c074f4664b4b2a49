//! Calls between demo phones through a real node, driven by sipp (an independent SIP
//! implementation) over UDP and TCP. Each test registers the called phones from sipp bound
//! to a port, then runs a UAS scenario on that port and a UAC scenario calling it.

mod common;

use common::*;
use serde_json::Value;

fn admin(rb: reqwest::blocking::RequestBuilder) -> reqwest::blocking::RequestBuilder {
    rb.basic_auth("admin", Some(ADMIN_PASSWORD))
}

fn get(node: &Node, path: &str) -> Value {
    admin(client().get(node.api(path)))
        .send()
        .unwrap()
        .json()
        .unwrap()
}

/// The caller's CSV line for uac-*.xml: calling line, called number, credentials.
fn caller(node: &Node, line: &str, called: &str) -> String {
    let user = format!("user{line}");
    let pw = demo_password(node, &user);
    format!("{line};{called};[authentication username={user} password={pw}]")
}

/// The newest call detail records, waiting for `n` to be written.
fn records(node: &Node, n: usize) -> Vec<Value> {
    for _ in 0..100 {
        let v = get(node, "/call-records");
        let items = v["items"].as_array().unwrap().clone();
        if items.len() >= n {
            return items;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!(
        "fewer than {n} call records: {}",
        get(node, "/call-records")
    );
}

#[test]
fn a_call_is_answered_and_recorded_over_udp_and_tcp() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path(), "", true);
    for (i, t) in [Sip::Udp, Sip::Tcp].into_iter().enumerate() {
        let port = free_port();
        register_line(&node, t, port, "1001", "user1001");
        let uas = Sipp::start(&node, t, "uas-answer.xml", port, &[], &["-m", "1"]);
        let uac = Sipp::start(
            &node,
            t,
            "uac-call.xml",
            0,
            &[&caller(&node, "1000", "1001")],
            &["-m", "1", "-d", "300"],
        );
        uac.expect_success(&format!("{t:?} caller"));
        uas.expect_success(&format!("{t:?} called phone"));
        let r = &records(&node, i + 1)[0];
        assert_eq!(r["calling_number"], "1000", "{r}");
        assert_eq!(r["calling_device"], "SEP00DE00001000", "{r}");
        assert_eq!(r["called_number"], "1001", "{r}");
        assert_eq!(r["called_device"], "SEP00DE00001001", "{r}");
        assert_eq!(r["pattern"], "1001", "{r}");
        assert_eq!(r["partition"], "Internal_PT", "{r}");
        assert_eq!(r["cause"], "normal", "{r}");
        assert_eq!(r["ended_by"], "calling", "{r}");
        assert_eq!(r["sip_status"], 200, "{r}");
        assert!(r["answered_at"].as_i64().is_some(), "{r}");
    }
    assert_eq!(get(&node, "/calls")["items"], serde_json::json!([]));
}
