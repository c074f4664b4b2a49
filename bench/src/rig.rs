//! The call-rate rig: sipp callers and a called sipp phone through a node, stepped up in rate, beside Kamailio proxying the kit's calls.

use super::*;

/// Calls for the benchmarks: line 1001 registered by a sipp UAS (its limits lifted, as a
/// hunt pilot's would be), callers from a trusted trunk or as digest-authenticated line 1000.
pub(crate) struct CallRig {
    pub(crate) uas_port: u16,
    pub(crate) uas_scenario: String,
    pub(crate) dir: std::path::PathBuf,
    pub(crate) trunk_uac: Vec<String>,
    pub(crate) device_uac: Vec<String>,
}

impl CallRig {
    pub(crate) fn new(
        node: &Node,
        dir: &std::path::Path,
        kit_scenario: &dyn Fn(&str) -> String,
    ) -> CallRig {
        let http = admin_http();
        let api = |path: &str| format!("{}/api/v1{path}", node.https);
        // Calls: a sipp UAS registered as line 1001, a sipp UAC on a trusted trunk.
        let pw_of = |user: &str| node.sip_password(user);
        let (uac_port, uas_port) = (free_port(), free_port());
        let r = http
            .post(api("/sip-trunks"))
            .basic_auth("admin", Some(PW))
            .json(&serde_json::json!({"name": "Bench_Trunk", "destination_host": "127.0.0.1", "destination_port": uac_port, "transport": "udp", "css": "Internal_CSS"}))
            .send()
            .unwrap();
        assert!(r.status().is_success(), "trunk: {}", r.text().unwrap());
        // Every call goes to line 1001, and the digest-authenticated calls all come from line
        // 1000: lift both lines' Maximum Number of Calls (default 4) and busy trigger (default
        // 2) to the maximum, as a hunt pilot's or a contact-centre line's would be; otherwise
        // the fifth call at once is refused 486 by the line's own limit, which is no measure
        // of the node.
        for number in ["1001", "1000"] {
            let dn: serde_json::Value = http
                .get(api(&format!("/directory-numbers?pattern={number}")))
                .basic_auth("admin", Some(PW))
                .send()
                .unwrap()
                .json()
                .unwrap();
            let id = dn["items"][0]["id"].as_str().unwrap().to_string();
            let r = http
                .patch(api(&format!("/directory-numbers/{id}")))
                .basic_auth("admin", Some(PW))
                .json(&serde_json::json!({"busy_trigger": 200, "max_calls": 200}))
                .send()
                .unwrap();
            assert!(
                r.status().is_success(),
                "line {number}: {}",
                r.text().unwrap()
            );
        }
        // Call control reads the lines from its directory snapshot, rebuilt whole after each
        // change: with the 30,000 devices of `sip-node` two rebuilds take over half a second,
        // and a step begun before them finds 1001 busy at its third call at once.
        std::thread::sleep(Duration::from_secs(3));
        std::fs::write(
            dir.join("uas.csv"),
            format!(
                "SEQUENTIAL\n1001;x;[authentication username=user1001 password={}]\n",
                pw_of("user1001")
            ),
        )
        .unwrap();
        let status = Command::new("timeout")
            .args(["30", "sipp", &node.sip_udp, "-sf"])
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../crates/server/tests/sipp/reg-auth.xml"
            ))
            .args([
                "-inf",
                "uas.csv",
                "-m",
                "1",
                "-i",
                "127.0.0.1",
                "-p",
                &uas_port.to_string(),
                "-nostdin",
            ])
            .current_dir(dir)
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        assert!(status, "the sipp UAS registered as 1001");
        std::fs::write(
            dir.join("caller.csv"),
            format!(
                "SEQUENTIAL\n1000;1001;[authentication username=user1000 password={}]\n",
                pw_of("user1000")
            ),
        )
        .unwrap();
        let uas_scenario = kit_scenario("uas-call.xml");
        let trunk_uac: Vec<String> = [
            node.sip_udp.as_str(),
            "-sf",
            &kit_scenario("uac-call.xml"),
            "-s",
            "1001",
            "-i",
            "127.0.0.1",
            "-p",
            &uac_port.to_string(),
            "-buff_size",
            "4194304",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let device_uac: Vec<String> = [
            node.sip_udp.as_str(),
            "-sf",
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../crates/server/tests/sipp/uac-call.xml"
            ),
            "-inf",
            "caller.csv",
            "-i",
            "127.0.0.1",
            "-p",
            "0",
            "-buff_size",
            "4194304",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        CallRig {
            uas_port,
            uas_scenario,
            dir: dir.to_path_buf(),
            trunk_uac,
            device_uac,
        }
    }

    /// One step: the UAS for `rate * secs` calls, the UAC (`uac`) at `rate`.
    pub(crate) fn step(&self, rate: u32, secs: u32, uac: Vec<String>) -> Option<(f64, u64)> {
        let (uas_port, uas_scenario, dir) = (self.uas_port, &self.uas_scenario, &self.dir);
        let total = rate * secs;
        // sipp itself (no `timeout` wrapper), so the kill below reaches it.
        let mut uas = Command::new("sipp")
            .args(["-sf", uas_scenario])
            .args([
                "-i",
                "127.0.0.1",
                "-p",
                &uas_port.to_string(),
                "-m",
                &total.to_string(),
            ])
            .args([
                "-nostdin",
                "-buff_size",
                "4194304",
                "-timeout",
                &format!("{}s", secs + 50),
            ])
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        std::thread::sleep(Duration::from_millis(300));
        let r = sipp_step(&uac, rate, secs, dir);
        // The UAS ends by itself after its last call's timewait; then the port is free.
        for _ in 0..50 {
            if uas.try_wait().ok().flatten().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = uas.kill();
        let _ = uas.wait();
        r
    }
}
