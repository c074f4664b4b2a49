//! What phones fetch (services, directories, configuration files) and 1,000 simulated phones booting and walking directories.

use super::*;

/// Phone-facing pages: what a fleet pressing Services and Directories, and phones fetching their
/// configuration files, cost. The seed warns that hundreds of requests a minute strain a Unified
/// CM node; the target is 20,000 a second.
pub(crate) fn phone_rows(binary: &str) -> Vec<Row> {
    let node = start_node(binary);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut rows = Vec::new();
    let pages: [(&'static str, &str); 3] = [
        (
            "Services menu (getservicesmenu.jsp), HTTP, 32 clients",
            "/ccmcip/getservicesmenu.jsp?name=SEP00DE00001000",
        ),
        (
            "Corporate directory search (xmldirectorylist.jsp), HTTP, 32 clients",
            "/ccmcip/xmldirectorylist.jsp?l=L",
        ),
        (
            "Configuration file SEP<MAC>.cnf.xml, HTTP, 32 clients",
            "/SEP00DE00001000.cnf.xml",
        ),
    ];
    for (name, path) in pages {
        let url = format!("{}{path}", node.http);
        let r = rt.block_on(rate(32, 5, 3.0, move |c, _| {
            c.get(&url)
                .header("x-CiscoIPPhoneModelName", "CP-8865")
                .header("x-CiscoIPPhoneDisplay", "800,480,24,C")
        }));
        rows.push(Row {
            name,
            median: r,
            unit: "req/s",
            target: ">= 20,000",
            anchor: "-".into(),
        });
    }
    rows
}

/// A fleet of simulated Cisco phones, each on its own loopback address: how fast 1,000 boot
/// (configuration file, then a digest REGISTER over TCP), and how fast they browse the
/// directory from their own addresses.
pub(crate) fn fleet_rows(binary: &str) -> Vec<Row> {
    const PHONES: usize = 1000;
    let node = start_node(binary);
    let pid = node.child.id();
    let fleet = Fleet {
        prefix: "0F1EE7",
        first_number: 40_000,
        subnet: 41,
        web_port: 18008,
    };
    fleet.provision(&node, PHONES);
    std::thread::sleep(Duration::from_secs(2)); // the snapshots follow
    let rss_before = rss_of(pid);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let start = Instant::now();
    let phones = rt.block_on(fleet.boot(&node, PHONES));
    let boot = PHONES as f64 / start.elapsed().as_secs_f64();
    let per_phone = rss_of(pid).saturating_sub(rss_before) as f64 / PHONES as f64 / 1024.0;
    // Every phone presses Directories and searches, from its own address, for a few seconds.
    let browsed = rt.block_on(rounds(
        phones.clone(),
        3,
        3.0,
        |p: dialtone_phonesim::Phone, _| async move {
            p.press_directories().await.expect("directories");
            p.select(0).await.expect("corporate directory");
            p.submit(&[("l", "L")]).await.expect("search");
            3
        },
    ));
    rt.block_on(async {
        for p in &phones {
            p.stop().await;
        }
    });
    vec![
        Row {
            name:
                "Simulated Cisco phones booting (config file + REGISTER/TCP), 1,000 on 127.41.x.y",
            median: boot,
            unit: "phones/s",
            target: "-",
            anchor: "-".into(),
        },
        Row {
            name: "Node memory per booted phone",
            median: per_phone,
            unit: "KiB",
            target: "-",
            anchor: "-".into(),
        },
        Row {
            name: "Directory walks by 1,000 phones from their own addresses (3 pages each)",
            median: browsed,
            unit: "req/s",
            target: ">= 20,000",
            anchor: "-".into(),
        },
    ]
}

/// A fleet of simulated Cisco phones: device `SEP{prefix}{i:06}` with line `first_number + i`,
/// on 127.`subnet`.x.y, its web server (for pushes) on `web_port`.
pub(crate) struct Fleet {
    pub(crate) prefix: &'static str,
    pub(crate) first_number: u32,
    pub(crate) subnet: u8,
    pub(crate) web_port: u16,
}

impl Fleet {
    fn name(&self, i: usize) -> String {
        format!("SEP{}{i:06}", self.prefix)
    }

    /// Provision `count` phones (Cisco 8865, the Default device pool, lines in Internal_PT,
    /// the device reaching Internal_CSS) by CSV.
    pub(crate) fn provision(&self, node: &Node, count: usize) {
        let mut csv = String::from(
            "name,model,digest_user,digest_password,css,line1.pattern,line1.partition\n",
        );
        for i in 0..count {
            csv.push_str(&format!(
                "{},Cisco 8865,{}u{i},pw{i},Internal_CSS,{},Internal_PT\n",
                self.name(i),
                self.prefix,
                self.first_number as usize + i
            ));
        }
        bulk_import(node, "devices", csv);
    }

    /// Boot `count` provisioned phones, 64 at a time (configuration file, then a digest
    /// REGISTER over TCP).
    pub(crate) async fn boot(&self, node: &Node, count: usize) -> Vec<dialtone_phonesim::Phone> {
        let bound = Arc::new(tokio::sync::Semaphore::new(64));
        let tasks: Vec<_> = (0..count)
            .map(|i| {
                let bound = bound.clone();
                let ip = std::net::IpAddr::from([
                    127,
                    self.subnet,
                    (i / 250) as u8,
                    (i % 250 + 1) as u8,
                ]);
                let mut spec = dialtone_phonesim::Spec::new(
                    &self.name(i),
                    &format!("pw{i}"),
                    ip,
                    &node.config_http,
                );
                spec.web_port = self.web_port;
                tokio::spawn(async move {
                    let _turn = bound.acquire().await;
                    dialtone_phonesim::Phone::start(spec)
                        .await
                        .expect("phone boots")
                })
            })
            .collect();
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.unwrap());
        }
        out
    }
}
