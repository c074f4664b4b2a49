//! The paging server at scale: one DialCast page to 1,000 simulated Cisco phones (every one
//! pushed `RTPMRx:` with the page's minted credentials, checked by the node's Authentication
//! URL), timed from the page's start to the go-ahead (all joined), over several pages; the
//! seed's InformaCast Basic pages at most 50 phones per group.

use super::*;

use serde_json::Value;

/// Pages measured, one after the other.
const PAGES: usize = 5;

fn pages(node: &Node) -> Value {
    admin_http()
        .get(format!("{}/api/v1/paging/pages", node.https))
        .basic_auth("admin", Some(PW))
        .send()
        .unwrap()
        .json()
        .unwrap()
}

pub(crate) fn paging_rows(binary: &str) -> Vec<Row> {
    const PHONES: usize = 1000;
    let node = start_node_with(
        binary,
        "[phones]\nweb_port = 18011\npush_timeout_ms = 5000\npaging_multicast_first = \"239.201.1.1\"\n",
    );
    let pid = node.child.id();
    let fleet = Fleet {
        prefix: "0F1EE8",
        first_number: 50_000,
        subnet: 42,
        web_port: 18011,
    };
    // The thousand listeners and one more phone to page them from; all in the Default pool,
    // so in the demo's "All Phones" group (DialCast 1960).
    fleet.provision(&node, PHONES + 1);
    std::thread::sleep(Duration::from_secs(2));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut phones = rt.block_on(fleet.boot(&node, PHONES + 1));
    let caller = phones.pop().unwrap();
    let mut join_ms = Vec::new();
    let mut joined = Vec::new();
    let mut cpu = Vec::new();
    for page in 0..PAGES {
        let cpu_before = cpu_seconds(pid);
        let call = rt.block_on(caller.dial("1960")).expect("the page answers");
        // The go-ahead has played once the live page has its join time.
        let deadline = Instant::now() + Duration::from_secs(30);
        while pages(&node)["active"][0]["join_ms"].is_null() {
            assert!(Instant::now() < deadline, "the page never went ahead");
            std::thread::sleep(Duration::from_millis(50));
        }
        // A second of the caller's voice, heard by a sample of the phones.
        std::thread::sleep(Duration::from_secs(1));
        for p in phones.iter().step_by(97) {
            let heard = p.heard().expect("the phone is listening");
            assert_eq!(heard.strongest_hz, 400.0, "{heard:?}");
        }
        rt.block_on(caller.hangup(&call)).unwrap();
        let record = loop {
            let ended = pages(&node)["ended"].clone();
            if ended.as_array().map(Vec::len) == Some(page + 1) {
                break ended[0].clone();
            }
            assert!(Instant::now() < deadline, "the page never ended");
            std::thread::sleep(Duration::from_millis(50));
        };
        cpu.push(cpu_seconds(pid) - cpu_before);
        join_ms.push(record["join_ms"].as_f64().unwrap());
        joined.push(
            record["phones"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|p| p["outcome"] == "joined" && p["left"] == true)
                .count() as f64,
        );
    }
    rt.block_on(async {
        for p in &phones {
            p.stop().await;
        }
        caller.stop().await;
    });
    vec![
        Row {
            name: "Page to 1,000 phones: start to go-ahead (all joined by push)",
            median: median(join_ms),
            unit: "ms",
            target: "< 1,000",
            anchor: "InformaCast Basic: 50 phones per group".into(),
        },
        Row {
            name: "Page to 1,000 phones: phones that joined and left",
            median: median(joined),
            unit: "phones",
            target: "1,000",
            anchor: "-".into(),
        },
        Row {
            name: "Page to 1,000 phones: node CPU per page (join, 1 s of voice, leave)",
            median: median(cpu),
            unit: "s",
            target: "-",
            anchor: "-".into(),
        },
    ]
}
