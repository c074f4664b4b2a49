//! WebDialer makeCallSoap end to end, and Redirector decisions.

use super::*;

/// A makeCallSoap request as python-zeep sends it (bare elements, urn:WD70).
pub(crate) fn make_call_soap(user: &str, password: &str, destination: &str) -> String {
    format!(
        "<?xml version='1.0' encoding='utf-8'?>\n<soap-env:Envelope xmlns:soap-env=\"http://schemas.xmlsoap.org/soap/envelope/\"><soap-env:Body>\
         <ns0:makeCallSoap xmlns:ns0=\"urn:WD70\"><in0><userID>{user}</userID><password>{password}</password></in0><in1>{destination}</in1>\
         <in2><user>{user}</user><deviceName></deviceName><lineNumber></lineNumber><supportEM>false</supportEM><locale>English</locale>\
         <dontAutoClose>false</dontAutoClose><dontShowCallConf>false</dontShowCallConf></in2></ns0:makeCallSoap></soap-env:Body></soap-env:Envelope>"
    )
}

/// WebDialer end to end: SOAP makeCall from `PAIRS` users, each call counted once the request
/// returned 0 and both simulated phones (the user's, answering by remote control, and the
/// destination) are connected; the destination then hangs up. The first request of each user
/// (a cold password check) is measured apart from the warm ones.
pub(crate) fn webdialer_rows(binary: &str) -> Vec<Row> {
    const PAIRS: usize = 150;
    const SECS: u64 = 20;
    let node = start_node_with(binary, "[phones]\nweb_port = 18010\n");
    let mut csv =
        String::from("name,model,css,digest_user,digest_password,line1.pattern,line1.partition\n");
    for i in 0..PAIRS {
        csv.push_str(&format!(
            "SEP0D0000{i:06},Cisco 8865,Internal_CSS,wdfrom{i},pw{i},8{i:04},Internal_PT\n\
             SEP0D1000{i:06},Cisco 8865,Internal_CSS,wdto{i},pw{i},5{i:04},Internal_PT\n"
        ));
    }
    bulk_import(&node, "devices", csv);
    let mut csv = String::from("user_id,last_name,password,devices\n");
    for i in 0..PAIRS {
        csv.push_str(&format!("wd{i},Dialer,wd-password-{i},SEP0D0000{i:06}\n"));
    }
    bulk_import(&node, "users", csv);
    std::thread::sleep(Duration::from_secs(2)); // the snapshots follow
    let rt = tokio::runtime::Runtime::new().unwrap();
    let pairs: Vec<(dialtone_phonesim::Phone, dialtone_phonesim::Phone)> = rt.block_on(async {
        let mut out = Vec::new();
        for i in 0..PAIRS {
            let ip = |b: u8| std::net::IpAddr::from([127, 43, b, (i % 250 + 1) as u8]);
            let mut from = dialtone_phonesim::Spec::new(
                &format!("SEP0D0000{i:06}"),
                &format!("pw{i}"),
                ip(i as u8 / 250),
                &node.config_http,
            );
            from.web_port = 18010;
            let mut to = dialtone_phonesim::Spec::new(
                &format!("SEP0D1000{i:06}"),
                &format!("pw{i}"),
                ip(100 + i as u8 / 250),
                &node.config_http,
            );
            to.web_port = 18010;
            to.answer_all = true;
            out.push((
                dialtone_phonesim::Phone::start(from)
                    .await
                    .expect("phone boots"),
                dialtone_phonesim::Phone::start(to)
                    .await
                    .expect("phone boots"),
            ));
        }
        out
    });
    let url = format!("{}/webdialer/services/WebdialerSoapService70", node.https);
    // One call: (SOAP answer time, request to both phones connected), in ms.
    async fn one_call(
        client: &reqwest::Client,
        url: &str,
        i: usize,
        from: &dialtone_phonesim::Phone,
        to: &dialtone_phonesim::Phone,
    ) -> (f64, f64) {
        use dialtone_phonesim::PhoneEvent;
        let (mut fe, mut te) = (from.events(), to.events());
        let t0 = Instant::now();
        let answer = client
            .post(url)
            .header("content-type", "text/xml; charset=utf-8")
            .header("soapaction", "\"\"")
            .body(make_call_soap(
                &format!("wd{i}"),
                &format!("wd-password-{i}"),
                &format!("5{i:04}"),
            ))
            .send()
            .await
            .expect("makeCall")
            .text()
            .await
            .unwrap();
        let answered = t0.elapsed().as_secs_f64() * 1000.0;
        assert!(answer.contains(">0</responseCode>"), "{answer}");
        let wait = Duration::from_secs(10);
        from.wait_for(&mut fe, wait, |e| matches!(e, PhoneEvent::Connected { .. }))
            .await
            .expect("the user's phone connects");
        let PhoneEvent::Connected { call_id } = to
            .wait_for(&mut te, wait, |e| matches!(e, PhoneEvent::Connected { .. }))
            .await
            .expect("the destination connects")
        else {
            unreachable!()
        };
        let connected = t0.elapsed().as_secs_f64() * 1000.0;
        to.hangup(&call_id).await.expect("hang up");
        from.wait_for(&mut fe, wait, |e| matches!(e, PhoneEvent::Ended { .. }))
            .await
            .expect("the user's side ends");
        (answered, connected)
    }
    let (cold, warm, elapsed) = rt.block_on(async {
        let clients: Vec<reqwest::Client> = (0..PAIRS)
            .map(|_| {
                reqwest::Client::builder()
                    .danger_accept_invalid_certs(true)
                    .build()
                    .unwrap()
            })
            .collect();
        // Every user's first request: the password is checked in full (argon2id).
        let firsts: Vec<_> = pairs
            .iter()
            .zip(&clients)
            .enumerate()
            .map(|(i, ((from, to), c))| {
                let (from, to, c, url) = (from.clone(), to.clone(), c.clone(), url.clone());
                tokio::spawn(async move { one_call(&c, &url, i, &from, &to).await })
            })
            .collect();
        let mut cold = Vec::new();
        for t in firsts {
            cold.push(t.await.unwrap().0);
        }
        let end = Instant::now() + Duration::from_secs(SECS);
        let start = Instant::now();
        let tasks: Vec<_> = pairs
            .iter()
            .zip(&clients)
            .enumerate()
            .map(|(i, ((from, to), c))| {
                let (from, to, c, url) = (from.clone(), to.clone(), c.clone(), url.clone());
                tokio::spawn(async move {
                    let mut mine = Vec::new();
                    while Instant::now() < end {
                        mine.push(one_call(&c, &url, i, &from, &to).await);
                    }
                    mine
                })
            })
            .collect();
        let mut warm = Vec::new();
        for t in tasks {
            warm.extend(t.await.unwrap());
        }
        (cold, warm, start.elapsed().as_secs_f64())
    });
    rt.block_on(async {
        for (a, b) in &pairs {
            a.stop().await;
            b.stop().await;
        }
    });
    let rate = warm.len() as f64 / elapsed;
    let mut answered: Vec<f64> = warm.iter().map(|w| w.0).collect();
    let mut connected: Vec<f64> = warm.iter().map(|w| w.1).collect();
    let mut cold = cold;
    for v in [&mut answered, &mut connected, &mut cold] {
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    }
    vec![
        Row {
            name: "WebDialer makeCallSoap, warm credentials: calls/s, each counted once it returned 0 and both phones are connected (150 users, 300 simulated phones)",
            median: rate,
            unit: "calls/s",
            target: ">= 400 (seed: 4 per node)",
            anchor: format!("{} calls in {elapsed:.1} s; Maximum Concurrent Call Requests 1000 (default)", warm.len()),
        },
        Row {
            name: "WebDialer makeCallSoap, warm: request to both phones connected, median / 99th percentile",
            median: percentile(&connected, 0.5),
            unit: "ms",
            target: "-",
            anchor: format!("p99 {:.1} ms; SOAP answer p50 {:.1} ms, p99 {:.1} ms", percentile(&connected, 0.99), percentile(&answered, 0.5), percentile(&answered, 0.99)),
        },
        Row {
            name: "WebDialer makeCallSoap, each user's first request (cold password check, argon2id): SOAP answer, median",
            median: percentile(&cold, 0.5),
            unit: "ms",
            target: "-",
            anchor: format!("p99 {:.1} ms; {} users at once", percentile(&cold, 0.99), cold.len()),
        },
    ]
}

/// The Redirector: decisions per second for users who logged in before (the Redirector's
/// cookie), each one asking both WebDialers of the List of WebDialers (isClusterUser over
/// HTTPS, pinned certificates) and redirecting to the one that says yes.
pub(crate) fn redirector_rows(binary: &str) -> Vec<Row> {
    let sip = "sip_udp_port = 0\nsip_tcp_port = 0\nsip_tls_port = 0\n";
    let a = start_node_listening(binary, sip, "");
    let b = start_node_listening(binary, sip, "");
    let fingerprint = |n: &Node| -> String {
        let pem = std::fs::read_to_string(n.dir.join("data/tls/self-signed.crt")).unwrap();
        let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        use base64::Engine;
        use sha2::Digest;
        let der = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        hex::encode(sha2::Sha256::digest(der))
    };
    let http = admin_http();
    // The demo's users are in both; B says they are not its own (home cluster elsewhere),
    // except one user that only B claims.
    for u in 1000..1010 {
        let r = http
            .patch(format!("{}/api/v1/users/user{u}", b.https))
            .basic_auth("admin", Some(PW))
            .json(&serde_json::json!({"home_cluster": u == 1009}))
            .send()
            .unwrap();
        assert!(r.status().is_success(), "{}", r.text().unwrap());
    }
    let r = http
        .patch(format!("{}/api/v1/users/user1009", a.https))
        .basic_auth("admin", Some(PW))
        .json(&serde_json::json!({"home_cluster": false}))
        .send()
        .unwrap();
    assert!(r.status().is_success());
    let list = format!(
        "{}#sha256={} {}#sha256={}",
        a.https,
        fingerprint(&a),
        b.https,
        fingerprint(&b)
    );
    let r = http
        .put(format!(
            "{}/api/v1/parameters/webdialer/list_of_webdialers",
            a.https
        ))
        .basic_auth("admin", Some(PW))
        .json(&serde_json::json!({"value": list}))
        .send()
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().unwrap());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let redirector = format!("{}/webdialer/Redirector", a.https);
    let (a_base, b_base) = (a.https.clone(), b.https.clone());
    let decisions = rt.block_on(async move {
        let clients: Vec<reqwest::Client> = (0..32)
            .map(|_| {
                reqwest::Client::builder()
                    .danger_accept_invalid_certs(true)
                    .redirect(reqwest::redirect::Policy::none())
                    .build()
                    .unwrap()
            })
            .collect();
        rounds(clients, 5, 5.0, move |c, n| {
            let u = 1000 + n % 10;
            let expected = if u == 1009 {
                b_base.clone()
            } else {
                a_base.clone()
            };
            let request = c
                .get(format!("{redirector}?destination=1001"))
                .header("cookie", format!("WDREDIRECT=user{u}"));
            async move {
                let r = request.send().await.expect("decision");
                assert_eq!(r.status().as_u16(), 303);
                let to = r.headers()["location"].to_str().unwrap().to_string();
                assert!(to.starts_with(&expected), "user{u} sent to {to}");
                1
            }
        })
        .await
    });
    vec![Row {
        name: "Redirector decisions/s: isClusterUser to 2 WebDialers over HTTPS (pinned) at once, then the redirect, 32 clients",
        median: decisions,
        unit: "decisions/s",
        target: ">= 800 (seed: 8 call requests/s)",
        anchor: "-".into(),
    }]
}
