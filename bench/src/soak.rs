//! The vanishing-peers soak: sipp phones that go silent at every stage of a call (before the
//! called phone's first answer, after 180, after 200 without an ACK, during a re-INVITE and
//! during a transfer), then what the node holds and spends before, right after, and once every
//! bound has passed. Everything a silent peer leaves must end by a bound: the tasks, the
//! transactions, the calls and the CPU return to where they were.

use std::process::Command;
use std::time::{Duration, Instant};

use super::{free_port, rss_of, start_node_with, Node, PW};

/// Short protocol timers so the bounds pass in seconds: 64*T1 = 3.2 s, ringing 5 s, Timer C
/// 8 s, session timers off (so the calls left connected end only by the maximum duration).
const CONFIG: &str = "[sip]\nt1_ms = 50\nt2_ms = 400\nt4_ms = 500\nmax_ringing_seconds = 5\n\
                      timer_c_ms = 8000\nsession_expires = 0\nmax_call_seconds = 20\n";

/// Calls per stage, and the rate they are placed at.
const CALLS: u32 = 200;
const RATE: u32 = 50;

/// The caller's INVITE with its digest challenge answered (the demo phone's credentials), then
/// `tail`: the stage at which it goes silent.
fn caller(tail: &str) -> String {
    let invite = |cseq: u32, auth: &str| {
        format!(
            r#"
  <send retrans="500">
    <![CDATA[
      INVITE sip:[field1]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:[field0]@[remote_ip]>;tag=[pid]A[call_number]
      To: <sip:[field1]@[remote_ip]>
      Call-ID: [call_id]
      CSeq: {cseq} INVITE
      Contact: <sip:[field0]@[local_ip]:[local_port]>
      {auth}
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=- 1 1 IN IP4 [local_ip]
      s=-
      c=IN IP4 [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0

    ]]>
  </send>"#
        )
    };
    format!(
        r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="vanishing caller">{}
  <recv response="100" optional="true"/>
  <recv response="407" auth="true"/>
  <send>
    <![CDATA[
      ACK sip:[field1]@[remote_ip]:[remote_port] SIP/2.0
      [last_Via:]
      From: <sip:[field0]@[remote_ip]>;tag=[pid]A[call_number]
      [last_To:]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>{}
{tail}
</scenario>
"#,
        invite(1, ""),
        invite(2, "[field2]")
    )
}

/// The caller's in-dialog request after the answer (a re-INVITE putting the call on hold, or
/// a REFER), once the 200 is ACKed.
fn after_answer(request: &str, extra: &str, expect: &str) -> String {
    format!(
        r#"  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="200" rrs="true"/>
  <send>
    <![CDATA[
      ACK [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:[field0]@[remote_ip]>;tag=[pid]A[call_number]
      [last_To:]
      Call-ID: [call_id]
      CSeq: 2 ACK
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <pause milliseconds="200"/>
  <send retrans="500">
    <![CDATA[
      {request} [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:[field0]@[remote_ip]>;tag=[pid]A[call_number]
      [last_To:]
      Call-ID: [call_id]
      CSeq: 3 {request}
      Contact: <sip:[field0]@[local_ip]:[local_port]>
      Max-Forwards: 70
{extra}
    ]]>
  </send>
  <recv response="{expect}" optional="true"/>"#
    )
}

const HOLD_OFFER: &str = "      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=- 1 2 IN IP4 [local_ip]
      s=-
      c=IN IP4 [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0
      a=sendonly
";

/// A called phone: rings, perhaps answers (and takes the ACK and what follows), then is
/// silent for good.
fn callee(answer: bool, then: &str) -> String {
    let reply = |code: &str, body: bool| {
        let body = if body {
            "Content-Type: application/sdp\n      Content-Length: [len]\n\n      v=0\n      o=- 2 2 IN IP4 [local_ip]\n      s=-\n      c=IN IP4 [media_ip]\n      t=0 0\n      m=audio [media_port] RTP/AVP 0\n"
        } else {
            "Content-Length: 0\n"
        };
        format!(
            r#"
  <send>
    <![CDATA[
      SIP/2.0 {code}
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]B[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:phone@[local_ip]:[local_port]>
      {body}
    ]]>
  </send>"#
        )
    };
    let answered = if answer {
        reply("200 OK", true)
    } else {
        String::new()
    };
    format!(
        r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="vanishing callee">
  <recv request="INVITE"/>{}{answered}
{then}
</scenario>
"#,
        reply("180 Ringing", false)
    )
}

/// What the node holds and spends at one moment.
#[derive(Debug, Clone, Copy, Default)]
struct Held {
    tasks: f64,
    server_transactions: f64,
    client_transactions: f64,
    calls: f64,
    rss_mb: f64,
    /// CPU over a two-second window with no traffic, in percent of one core.
    cpu: f64,
}

fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let Some(close) = stat.rfind(')') else {
        return 0;
    };
    let f: Vec<&str> = stat[close + 2..].split(' ').collect();
    f.get(11).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
        + f.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
}

fn held(node: &Node) -> Held {
    let pid = node.child.id();
    let before = cpu_ticks(pid);
    std::thread::sleep(Duration::from_secs(2));
    // USER_HZ is 100: ticks over two seconds are percent of a core times two.
    let cpu = (cpu_ticks(pid) - before) as f64 / 2.0;
    let text = super::admin_http()
        .get(format!("{}/metrics", node.http))
        .send()
        .and_then(|r| r.text())
        .unwrap_or_default();
    let gauge = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(&format!("dialtone_{name} ")))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(f64::NAN)
    };
    Held {
        tasks: gauge("tasks"),
        server_transactions: gauge("sip_server_transactions"),
        client_transactions: gauge("sip_client_transactions"),
        calls: gauge("calls"),
        rss_mb: rss_of(pid) as f64 / 1e6,
        cpu,
    }
}

fn sipp(
    node: &Node,
    dir: &std::path::Path,
    scenario: &str,
    port: u16,
    csv: Option<&str>,
    calls: u32,
) -> std::process::Child {
    let file = dir.join(format!("s{port}.xml"));
    std::fs::write(&file, scenario).unwrap();
    let mut cmd = Command::new("timeout");
    cmd.arg("120")
        .arg("sipp")
        .arg(&node.sip_udp)
        .arg("-sf")
        .arg(&file)
        .args([
            "-i",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-m",
            &calls.to_string(),
        ])
        .args([
            "-r",
            &RATE.to_string(),
            "-nostdin",
            "-timeout",
            "90s",
            "-l",
            "10000",
        ]);
    if let Some(csv) = csv {
        let f = dir.join(format!("s{port}.csv"));
        std::fs::write(&f, format!("SEQUENTIAL\n{csv}\n")).unwrap();
        cmd.arg("-inf").arg(f);
    }
    cmd.current_dir(dir)
        .stdout(std::fs::File::create(dir.join(format!("s{port}.out"))).unwrap())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("sipp (Debian's sip-tester)")
}

/// Register demo line `line` at 127.0.0.1:`port` (digest, from sipp).
fn register(node: &Node, dir: &std::path::Path, line: &str, port: u16) {
    let user = format!("user{line}");
    let pw = node.sip_password(&user);
    let scenario = format!(
        "{}/../crates/server/tests/sipp/reg-auth.xml",
        env!("CARGO_MANIFEST_DIR")
    );
    let csv = dir.join(format!("reg{line}.csv"));
    std::fs::write(
        &csv,
        format!("SEQUENTIAL\n{line};x;[authentication username={user} password={pw}]\n"),
    )
    .unwrap();
    let ok = Command::new("timeout")
        .args(["30", "sipp", &node.sip_udp, "-sf", &scenario, "-inf"])
        .arg(&csv)
        .args([
            "-i",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-m",
            "1",
            "-nostdin",
        ])
        .current_dir(dir)
        .stdout(std::process::Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(ok, "registering {line}");
}

/// Let demo line `number` carry every call of a stage at once.
fn roomy_line(node: &Node, number: &str) {
    let http = super::admin_http();
    let api = format!("{}/api/v1/directory-numbers", node.https);
    let v: serde_json::Value = http
        .get(format!("{api}?pattern={number}"))
        .basic_auth("admin", Some(PW))
        .send()
        .and_then(|r| r.json())
        .expect("the directory number");
    let id = v["items"][0]["id"]
        .as_str()
        .expect("a demo line")
        .to_string();
    let r = http
        .patch(format!("{api}/{id}"))
        .basic_auth("admin", Some(PW))
        .json(&serde_json::json!({"max_calls": 200, "busy_trigger": 200}))
        .send()
        .expect("PATCH the line");
    assert!(r.status().is_success(), "PATCH {number}: {}", r.status());
}

pub fn run(binary: &str) {
    let node = start_node_with(binary, CONFIG);
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let answer_then =
        |request: &str, extra: &str, expect: &str| after_answer(request, extra, expect);
    // (stage, called line, the called phone's scenario (None: nothing listens), the caller's tail)
    let stages: Vec<(&str, &str, Option<String>, String)> = vec![
        ("before the called phone's first answer", "1001", None, "  <recv response=\"100\"/>".into()),
        (
            "after 180",
            "1002",
            Some(callee(false, "")),
            "  <recv response=\"100\" optional=\"true\"/>\n  <recv response=\"180\"/>".into(),
        ),
        (
            "after 200, no ACK",
            "1003",
            Some(callee(true, "")),
            "  <recv response=\"100\" optional=\"true\"/>\n  <recv response=\"180\" optional=\"true\"/>\n  <recv response=\"200\"/>".into(),
        ),
        (
            "during a re-INVITE",
            "1004",
            Some(callee(true, "  <recv request=\"ACK\"/>\n  <recv request=\"INVITE\"/>")),
            answer_then("INVITE", HOLD_OFFER, "100"),
        ),
        (
            "during a transfer (REFER to a phone that rings and vanishes)",
            "1005",
            Some(callee(true, "  <recv request=\"ACK\"/>\n  <recv request=\"INVITE\" optional=\"true\"/>")),
            answer_then(
                "REFER",
                "      Refer-To: <sip:1006@[remote_ip]>\n      Referred-By: <sip:[field0]@[remote_ip]>\n      Content-Length: 0\n",
                "202",
            ),
        ),
    ];
    roomy_line(&node, "1006");
    let target_port = free_port();
    register(&node, dir, "1006", target_port);
    let mut target = sipp(&node, dir, &callee(false, ""), target_port, None, CALLS);

    let idle = held(&node);
    let mut reached = Vec::new();
    let started = Instant::now();
    for (n, (stage, line, called, tail)) in stages.iter().enumerate() {
        // Each stage's caller has a line of its own, and every line carries all its calls
        // (the demo's lines go busy at two).
        let calling = format!("{}", 1010 + n);
        for l in [line, calling.as_str()] {
            roomy_line(&node, l);
        }
        let port = free_port();
        register(&node, dir, line, port);
        let mut uas = called
            .as_ref()
            .map(|s| sipp(&node, dir, s, port, None, CALLS));
        let pw = node.sip_password(&format!("user{calling}"));
        let csv = format!("{calling};{line};[authentication username=user{calling} password={pw}]");
        let uac_port = free_port();
        let mut uac = sipp(&node, dir, &caller(tail), uac_port, Some(&csv), CALLS);
        let _ = uac.wait();
        // sipp's closing statistics: how many callers reached the stage they vanish at.
        let out = std::fs::read_to_string(dir.join(format!("s{uac_port}.out"))).unwrap_or_default();
        let count = |what: &str| {
            out.lines()
                .rfind(|l| l.contains(what))
                .and_then(|l| l.rsplit('|').next())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .unwrap_or(0)
        };
        reached.push(count("Successful call"));
        if let Some(u) = uas.as_mut() {
            let _ = u.kill();
            let _ = u.wait();
        }
        eprintln!(
            "soak: {CALLS} calls whose phones vanish {stage}: {} reached that stage",
            reached.last().unwrap()
        );
    }
    let _ = target.kill();
    let _ = target.wait();
    let right_after = held(&node);
    // Every bound here is at most 20 s (the maximum call duration); wait for the node to hold
    // what it held when idle, 60 s at the most.
    let mut after = right_after;
    let quiet_since = Instant::now();
    while quiet_since.elapsed() < Duration::from_secs(60) {
        after = held(&node);
        if after.calls == idle.calls
            && after.server_transactions <= idle.server_transactions
            && after.client_transactions <= idle.client_transactions
            && after.tasks <= idle.tasks + 2.0
        {
            break;
        }
    }
    let settled = quiet_since.elapsed().as_secs_f64();
    println!(
        "\nSoak: {} calls in {:.0} s, {CALLS} for each stage at which the phones vanish ({}); bounds here: 64*T1 3.2 s, ringing 5 s, Timer C 8 s, maximum call duration 20 s.\n",
        CALLS as usize * stages.len(),
        started.elapsed().as_secs_f64(),
        stages
            .iter()
            .zip(&reached)
            .map(|(s, n)| format!("{}: {n} reached it", s.0))
            .collect::<Vec<_>>()
            .join("; ")
    );
    println!("| held by the node | idle before | right after the calls | {settled:.0} s later |");
    println!("|---|---:|---:|---:|");
    type Column = fn(&Held) -> f64;
    let rows: [(&str, Column); 6] = [
        ("tasks", |h| h.tasks),
        ("SIP server transactions", |h| h.server_transactions),
        ("SIP client transactions", |h| h.client_transactions),
        ("calls", |h| h.calls),
        ("RSS (MB)", |h| h.rss_mb),
        ("CPU with no traffic (% of a core)", |h| h.cpu),
    ];
    for (name, get) in rows {
        println!(
            "| {name} | {:.1} | {:.1} | {:.1} |",
            get(&idle),
            get(&right_after),
            get(&after)
        );
    }
}
