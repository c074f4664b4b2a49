//! RFC 3263 server location against a fake DNS, and hickory against /etc/hosts.

use std::collections::HashMap;
use std::net::IpAddr;

use dialtone_sip::endpoint::Transport;
use dialtone_sip::locate::{locate, order_srv, LocateError, Lookup, Naptr, Srv};
use dialtone_sip::Uri;

#[derive(Default)]
struct FakeDns {
    naptr: HashMap<String, Vec<Naptr>>,
    srv: HashMap<String, Vec<Srv>>,
    ip: HashMap<String, Vec<IpAddr>>,
}

impl Lookup for FakeDns {
    async fn naptr(&self, name: &str) -> Vec<Naptr> {
        {
            self.naptr.get(name).cloned().unwrap_or_default()
        }
    }
    async fn srv(&self, name: &str) -> Vec<Srv> {
        {
            self.srv.get(name).cloned().unwrap_or_default()
        }
    }
    async fn ip(&self, name: &str) -> Vec<IpAddr> {
        {
            self.ip.get(name).cloned().unwrap_or_default()
        }
    }
}

fn srv(priority: u16, weight: u16, port: u16, target: &str) -> Srv {
    Srv {
        priority,
        weight,
        port,
        target: target.into(),
    }
}

fn dns() -> FakeDns {
    let mut d = FakeDns::default();
    d.naptr.insert(
        "example.com".into(),
        vec![
            Naptr {
                order: 50,
                preference: 50,
                flags: "s".into(),
                services: "SIP+D2U".into(),
                replacement: "_sip._udp.example.com.".into(),
            },
            Naptr {
                order: 10,
                preference: 50,
                flags: "s".into(),
                services: "SIPS+D2T".into(),
                replacement: "_sips._tcp.example.com.".into(),
            },
            Naptr {
                order: 20,
                preference: 50,
                flags: "s".into(),
                services: "SIP+D2T".into(),
                replacement: "_sip._tcp.example.com.".into(),
            },
        ],
    );
    d.srv.insert(
        "_sips._tcp.example.com".into(),
        vec![srv(0, 0, 5061, "tls1.example.com.")],
    );
    d.srv.insert(
        "_sip._tcp.example.com".into(),
        vec![srv(0, 0, 5060, "tcp1.example.com.")],
    );
    d.srv.insert(
        "_sip._udp.example.com".into(),
        vec![srv(0, 0, 5060, "udp1.example.com.")],
    );
    d.srv.insert(
        "_sip._udp.srvonly.net".into(),
        vec![
            srv(20, 0, 5070, "b.srvonly.net."),
            srv(10, 0, 5080, "a.srvonly.net."),
        ],
    );
    for (name, ip) in [
        ("tls1.example.com", "192.0.2.1"),
        ("tcp1.example.com", "192.0.2.2"),
        ("udp1.example.com", "192.0.2.3"),
        ("a.srvonly.net", "198.51.100.1"),
        ("b.srvonly.net", "198.51.100.2"),
        ("plain.org", "203.0.113.9"),
    ] {
        d.ip.insert(name.into(), vec![ip.parse().unwrap()]);
    }
    d
}

async fn go(uri: &str, supported: &[Transport]) -> Result<Vec<String>, LocateError> {
    let uri = Uri::parse(uri).unwrap();
    Ok(locate(&dns(), &uri, supported)
        .await?
        .into_iter()
        .map(|p| format!("{} {}", p.transport.as_str(), p.addr))
        .collect())
}

const ALL: &[Transport] = &[Transport::Udp, Transport::Tcp, Transport::Tls];

#[tokio::test]
async fn rfc_3263_cases() {
    // NAPTR order wins: TLS first; without TLS support, TCP; with UDP only, UDP.
    assert_eq!(
        go("sip:alice@example.com", ALL).await.unwrap(),
        ["TLS 192.0.2.1:5061"]
    );
    assert_eq!(
        go("sip:alice@example.com", &[Transport::Udp, Transport::Tcp])
            .await
            .unwrap(),
        ["TCP 192.0.2.2:5060"]
    );
    assert_eq!(
        go("sip:alice@example.com", &[Transport::Udp])
            .await
            .unwrap(),
        ["UDP 192.0.2.3:5060"]
    );
    // No NAPTR: SRV per supported transport; priorities ordered.
    assert_eq!(
        go("sip:bob@srvonly.net", ALL).await.unwrap(),
        ["UDP 198.51.100.1:5080", "UDP 198.51.100.2:5070"]
    );
    // Neither: address records on the default port (5061 for sips over TLS).
    assert_eq!(
        go("sip:carol@plain.org", ALL).await.unwrap(),
        ["UDP 203.0.113.9:5060"]
    );
    assert_eq!(
        go("sips:carol@plain.org", ALL).await.unwrap(),
        ["TLS 203.0.113.9:5061"]
    );
    // An explicit port skips NAPTR and SRV; a transport parameter picks the transport.
    assert_eq!(
        go("sip:alice@plain.org:5099", ALL).await.unwrap(),
        ["UDP 203.0.113.9:5099"]
    );
    assert_eq!(
        go("sip:alice@example.com;transport=tcp", ALL)
            .await
            .unwrap(),
        ["TCP 192.0.2.2:5060"]
    );
    assert_eq!(
        go("sip:alice@plain.org;transport=tcp", ALL).await.unwrap(),
        ["TCP 203.0.113.9:5060"]
    );
    // Numeric hosts need no DNS.
    assert_eq!(
        go("sip:1000@192.0.2.77", ALL).await.unwrap(),
        ["UDP 192.0.2.77:5060"]
    );
    assert_eq!(
        go("sips:1000@[2001:db8::5]:5071", ALL).await.unwrap(),
        ["TLS [2001:db8::5]:5071"]
    );
    // Failures say why.
    assert_eq!(
        go("sip:x@nowhere.invalid", ALL).await,
        Err(LocateError::NotFound("nowhere.invalid".into()))
    );
    assert!(matches!(
        go("sip:x@plain.org;transport=sctp", ALL).await,
        Err(LocateError::Transport(_))
    ));
    assert_eq!(go("tel:+15551234", ALL).await, Err(LocateError::NoHost));
}

#[test]
fn srv_weights_spread_the_load_within_a_priority() {
    let records = vec![
        srv(1, 90, 1, "heavy."),
        srv(1, 10, 2, "light."),
        srv(0, 0, 3, "first."),
    ];
    let mut heavy_first = 0;
    for _ in 0..1000 {
        let ordered = order_srv(records.clone());
        assert_eq!(ordered[0].target, "first.", "lower priority always first");
        if ordered[1].target == "heavy." {
            heavy_first += 1;
        }
    }
    assert!(
        (800..=980).contains(&heavy_first),
        "weight 90 of 100 leads about 90% of the time: {heavy_first}"
    );
}

#[tokio::test]
async fn hickory_finds_localhost_from_the_hosts_file() {
    let resolver = dialtone_sip::locate::hickory::system().expect("a system resolver");
    let uri = Uri::parse("sip:test@localhost:5090").unwrap();
    let peers = locate(&resolver, &uri, ALL).await.unwrap();
    assert!(
        peers
            .iter()
            .any(|p| p.addr.ip().is_loopback() && p.addr.port() == 5090),
        "{peers:?}"
    );
}
