//! `SEP<MAC>.cnf.xml`: the configuration file Cisco enterprise SIP phones fetch over TFTP or
//! HTTP. There is no public schema; the element names are the ones Unified CM writes and the
//! phones read. The version stamp is a hash of everything else in the file, so it changes
//! exactly when the device's configuration does, and stays put across restarts.

use crate::tree::Element;

/// Which phone button offers a service (`type` in `<phoneService>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceButton {
    Services = 0,
    Directories = 1,
    Messages = 2,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneService {
    pub button: ServiceButton,
    /// true: a Java MIDlet (its URL is the JAD file); false: an XML service.
    pub midlet: bool,
    pub name: String,
    pub url: String,
}

/// A speed dial button: after the lines on the phone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpeedDial {
    pub index: u32,
    pub number: String,
    pub label: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub index: u32,
    /// The directory number; the phone registers it as the user part.
    pub number: String,
    pub display_name: String,
    pub label: String,
    /// SIP digest user name for this line's REGISTER.
    pub auth_name: String,
    pub shared: bool,
}

/// Where the phone finds call control: this node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallManager {
    pub name: String,
    pub host: String,
    pub sip_port: u16,
    pub secure_sip_port: u16,
}

/// The URLs a phone takes from its configuration file (each at most 255 characters).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Urls {
    pub authentication: String,
    pub secure_authentication: String,
    pub services: String,
    pub secure_services: String,
    pub directory: String,
    pub secure_directory: String,
    pub idle: String,
    pub secure_idle: String,
    /// Seconds of idleness before the phone fetches the idle URL; 0: never.
    pub idle_timeout: u32,
    pub information: String,
    pub secure_information: String,
    pub messages: String,
    pub secure_messages: String,
    pub proxy_server: String,
}

/// One phone's configuration file, `SEP<MAC>.cnf.xml`, as provisioning writes it (call
/// control's view of a device is `store::directory::DeviceConfig`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigFile {
    pub device_name: String,
    pub model: String,
    pub description: String,
    pub device_pool: String,
    pub call_managers: Vec<CallManager>,
    /// "TCP" or "UDP": how the phone sends SIP.
    pub transport: String,
    pub lines: Vec<Line>,
    pub speed_dials: Vec<SpeedDial>,
    pub urls: Urls,
    /// Let call control answer and hold calls by remote-control REFER (needed for
    /// click-to-call auto-answer on Cisco enterprise firmware).
    pub remote_cc: bool,
    /// 0 Internal (services from this file), 1 External URL (the services URL), 2 Both.
    pub services_provisioning: u8,
    /// The phone supports HTTPS: its services list carries secure URLs.
    pub use_https: bool,
    pub services: Vec<PhoneService>,
}

const URL_MAX: usize = 255;

fn url(s: &str) -> String {
    // A phone drops a URL field longer than 255 characters; cutting it would point elsewhere,
    // so an overlong one is left out rather than shortened.
    if s.chars().count() > URL_MAX {
        String::new()
    } else {
        s.to_owned()
    }
}

impl ConfigFile {
    /// The file, with its version stamp.
    pub fn to_xml(&self) -> String {
        let body = self.element("");
        let stamp = version_stamp(&body.to_document());
        self.element(&stamp).to_document()
    }

    /// The stamp [`to_xml`](Self::to_xml) writes: changes whenever anything else in the file does.
    pub fn version_stamp(&self) -> String {
        version_stamp(&self.element("").to_document())
    }

    fn element(&self, stamp: &str) -> Element {
        let mut members = Element::new("members");
        for (priority, cm) in self.call_managers.iter().enumerate() {
            members = members.child(
                Element::new("member")
                    .attr("priority", priority.to_string())
                    .child(
                        Element::new("callManager")
                            .leaf("name", &*cm.name)
                            .child(
                                Element::new("ports")
                                    .leaf("ethernetPhonePort", "2000")
                                    .leaf("sipPort", cm.sip_port.to_string())
                                    .leaf("securedSipPort", cm.secure_sip_port.to_string()),
                            )
                            .leaf("processNodeName", &*cm.host),
                    ),
            );
        }
        let mut lines = Element::new("sipLines");
        for l in &self.lines {
            lines = lines.child(
                Element::new("line")
                    .attr("button", l.index.to_string())
                    .attr("lineIndex", l.index.to_string())
                    .leaf("featureID", "9")
                    .leaf(
                        "featureLabel",
                        if l.label.is_empty() {
                            &l.number
                        } else {
                            &l.label
                        }
                        .as_str(),
                    )
                    .leaf("proxy", "USECALLMANAGER")
                    .leaf(
                        "port",
                        self.call_managers
                            .first()
                            .map_or(5060, |c| c.sip_port)
                            .to_string(),
                    )
                    .leaf("name", &*l.number)
                    .leaf("displayName", &*l.display_name)
                    .child(Element::new("autoAnswer").leaf("autoAnswerEnabled", "2"))
                    .leaf("callWaiting", "3")
                    .leaf("authName", &*l.auth_name)
                    .leaf("authPassword", "")
                    .leaf("sharedLine", l.shared.to_string())
                    .leaf("messageWaitingLampPolicy", "3")
                    .leaf("messagesNumber", "")
                    .leaf("ringSettingIdle", "4")
                    .leaf("ringSettingActive", "5")
                    .leaf("contact", &*l.number),
            );
        }
        let first_button = self.lines.iter().map(|l| l.index).max().unwrap_or(0);
        for (k, d) in self.speed_dials.iter().enumerate() {
            let button = (first_button + 1 + k as u32).to_string();
            lines = lines.child(
                Element::new("line")
                    .attr("button", button)
                    .leaf("featureID", "21")
                    .leaf(
                        "featureLabel",
                        if d.label.is_empty() {
                            &d.number
                        } else {
                            &d.label
                        }
                        .as_str(),
                    )
                    .leaf("speedDialNumber", &*d.number),
            );
        }
        let mut services = Element::new("phoneServices")
            .attr("useHTTPS", self.use_https.to_string())
            .leaf("provisioning", self.services_provisioning.to_string());
        for s in &self.services {
            services = services.child(
                Element::new("phoneService")
                    .attr("type", (s.button as u8).to_string())
                    .attr("category", if s.midlet { "1" } else { "0" })
                    .leaf("name", &*s.name)
                    .leaf("url", url(&s.url))
                    .leaf("vendor", "")
                    .leaf("version", ""),
            );
        }
        let u = &self.urls;
        Element::new("device")
            .leaf("fullConfig", "true")
            .leaf("deviceProtocol", "SIP")
            .leaf("sshUserId", "")
            .leaf("sshPassword", "")
            .child(
                Element::new("devicePool")
                    .leaf("revertPriority", "0")
                    .leaf("name", &*self.device_pool)
                    .child(
                        Element::new("callManagerGroup")
                            .leaf("name", &*self.device_pool)
                            .child(members),
                    ),
            )
            .child(
                Element::new("sipProfile")
                    .child(
                        Element::new("sipProxies")
                            .leaf("backupProxy", "")
                            .leaf("backupProxyPort", "")
                            .leaf("emergencyProxy", "")
                            .leaf("emergencyProxyPort", "")
                            .leaf("outboundProxy", "")
                            .leaf("outboundProxyPort", "")
                            .leaf("registerWithProxy", "true"),
                    )
                    .child(
                        Element::new("sipCallFeatures")
                            .leaf("cnfJoinEnabled", "true")
                            .leaf("callForwardURI", "x-cisco-serviceuri-cfwdall")
                            .leaf("callPickupURI", "x-cisco-serviceuri-pickup")
                            .leaf("callHoldRingback", "2")
                            .leaf("semiAttendedTransfer", "true")
                            .leaf("anonymousCallBlock", "2")
                            .leaf("callerIdBlocking", "2")
                            .leaf("dndControl", "0")
                            .leaf("remoteCcEnable", self.remote_cc.to_string()),
                    )
                    .child(
                        Element::new("sipStack")
                            .leaf("sipInviteRetx", "6")
                            .leaf("sipRetx", "10")
                            .leaf("timerInviteExpires", "180")
                            .leaf("timerRegisterDelta", "5")
                            .leaf("timerRegisterExpires", "3600")
                            .leaf("timerT1", "500")
                            .leaf("timerT2", "4000")
                            .leaf(
                                "transportLayerProtocol",
                                if self.transport == "UDP" { "1" } else { "2" },
                            ),
                    )
                    .leaf("autoAnswerTimer", "1")
                    .leaf("autoAnswerAltBehavior", "false")
                    .leaf("autoAnswerOverride", "true")
                    .leaf("transferOnhookEnabled", "false")
                    .leaf("enableVad", "false")
                    .leaf("preferredCodec", "none")
                    .leaf("dtmfAvtPayload", "101")
                    .leaf("dtmfDbLevel", "3")
                    .leaf("dtmfOutofBand", "avt")
                    .leaf("kpml", "3")
                    .leaf("phoneLabel", &*self.description)
                    .child(lines)
                    .leaf("voipControlPort", "5060")
                    .leaf("startMediaPort", "16384")
                    .leaf("stopMediaPort", "32766")
                    .leaf("dscpForAudio", "184")
                    .leaf("ringSettingBusyStationPolicy", "0")
                    .leaf("dialTemplate", "dialplan.xml"),
            )
            .leaf("versionStamp", stamp)
            .leaf("deviceName", &*self.device_name)
            .leaf("model", &*self.model)
            .leaf("authenticationURL", url(&u.authentication))
            .leaf("secureAuthenticationURL", url(&u.secure_authentication))
            .leaf("directoryURL", url(&u.directory))
            .leaf("secureDirectoryURL", url(&u.secure_directory))
            .leaf("idleTimeout", u.idle_timeout.to_string())
            .leaf("idleURL", url(&u.idle))
            .leaf("secureIdleURL", url(&u.secure_idle))
            .leaf("informationURL", url(&u.information))
            .leaf("secureInformationURL", url(&u.secure_information))
            .leaf("messagesURL", url(&u.messages))
            .leaf("secureMessagesURL", url(&u.secure_messages))
            .leaf("proxyServerURL", url(&u.proxy_server))
            .leaf("servicesURL", url(&u.services))
            .leaf("secureServicesURL", url(&u.secure_services))
            .child(services)
    }
}

/// FNV-1a over the file: stable across builds and restarts, unlike the standard hasher.
fn version_stamp(doc: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in doc.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{{{h:016x}}}")
}

/// What a phone (or the simulator) needs from a configuration file it fetched.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parsed {
    pub version_stamp: String,
    pub lines: Vec<(u32, String, String)>,
    /// (label, number)
    pub speed_dials: Vec<(String, String)>,
    pub call_manager: Option<(String, u16)>,
    pub transport_tcp: bool,
    pub remote_cc: bool,
    pub authentication_url: String,
    pub services_url: String,
    pub directory_url: String,
    pub idle_url: String,
    pub idle_timeout: u32,
    pub services_provisioning: u8,
    /// (type, name, url)
    pub services: Vec<(u8, String, String)>,
}

impl Parsed {
    pub fn parse(doc: &str) -> Result<Parsed, crate::Error> {
        let root = Element::parse(doc)?;
        if root.name != "device" {
            return Err(crate::Error::UnknownObject(root.name));
        }
        let sip = root.first("sipProfile");
        let text = |e: Option<&Element>, n: &str| {
            e.and_then(|e| e.text_of(n)).unwrap_or_default().to_owned()
        };
        let cm = root
            .first("devicePool")
            .and_then(|p| p.first("callManagerGroup"))
            .and_then(|g| g.first("members"))
            .and_then(|m| m.first("member"))
            .and_then(|m| m.first("callManager"));
        Ok(Parsed {
            version_stamp: text(Some(&root), "versionStamp"),
            speed_dials: sip
                .and_then(|s| s.first("sipLines"))
                .map(|l| {
                    l.all("line")
                        .filter(|line| line.text_of("featureID") == Some("21"))
                        .map(|line| {
                            (
                                text(Some(line), "featureLabel"),
                                text(Some(line), "speedDialNumber"),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default(),
            lines: sip
                .and_then(|s| s.first("sipLines"))
                .map(|l| {
                    l.all("line")
                        .filter(|line| line.text_of("featureID").is_none_or(|f| f == "9"))
                        .map(|line| {
                            (
                                line.attribute("lineIndex")
                                    .and_then(|i| i.parse().ok())
                                    .unwrap_or(0),
                                text(Some(line), "name"),
                                text(Some(line), "authName"),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default(),
            call_manager: cm.and_then(|c| {
                let port = c.first("ports")?.text_of("sipPort")?.parse().ok()?;
                Some((c.text_of("processNodeName")?.to_owned(), port))
            }),
            transport_tcp: text(
                sip.and_then(|s| s.first("sipStack")),
                "transportLayerProtocol",
            ) != "1",
            remote_cc: text(
                sip.and_then(|s| s.first("sipCallFeatures")),
                "remoteCcEnable",
            ) == "true",
            authentication_url: text(Some(&root), "authenticationURL"),
            services_url: text(Some(&root), "servicesURL"),
            directory_url: text(Some(&root), "directoryURL"),
            idle_url: text(Some(&root), "idleURL"),
            idle_timeout: text(Some(&root), "idleTimeout").parse().unwrap_or(0),
            services_provisioning: root
                .first("phoneServices")
                .and_then(|p| p.text_of("provisioning"))
                .and_then(|p| p.parse().ok())
                .unwrap_or(0),
            services: root
                .first("phoneServices")
                .map(|p| {
                    p.all("phoneService")
                        .map(|s| {
                            (
                                s.attribute("type")
                                    .and_then(|t| t.parse().ok())
                                    .unwrap_or(0),
                                text(Some(s), "name"),
                                text(Some(s), "url"),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> ConfigFile {
        ConfigFile {
            device_name: "SEP001122334455".into(),
            model: "Cisco 8845".into(),
            description: "Alice".into(),
            device_pool: "Default".into(),
            call_managers: vec![CallManager {
                name: "dialtone-1".into(),
                host: "10.0.0.1".into(),
                sip_port: 5060,
                secure_sip_port: 5061,
            }],
            transport: "TCP".into(),
            lines: vec![Line {
                index: 1,
                number: "1000".into(),
                display_name: "Alice & Co".into(),
                label: String::new(),
                auth_name: "alice".into(),
                shared: false,
            }],
            speed_dials: vec![SpeedDial {
                index: 1,
                number: "0612345678".into(),
                label: "Mum".into(),
            }],
            urls: Urls {
                services: "http://10.0.0.1:8080/ccmcip/getservicesmenu.jsp".into(),
                ..Default::default()
            },
            remote_cc: true,
            services_provisioning: 0,
            use_https: false,
            services: vec![PhoneService {
                button: ServiceButton::Directories,
                midlet: false,
                name: "Corporate Directory".into(),
                url: "http://10.0.0.1:8080/ccmcip/xmldirectory.jsp".into(),
            }],
        }
    }

    #[test]
    fn stamp_changes_with_the_configuration_and_only_then() {
        let a = sample();
        assert_eq!(a.to_xml(), sample().to_xml());
        let mut b = sample();
        b.lines[0].display_name = "Alice B".into();
        assert_ne!(a.version_stamp(), b.version_stamp());
        let parsed = Parsed::parse(&a.to_xml()).unwrap();
        assert_eq!(parsed.version_stamp, a.version_stamp());
        assert_eq!(parsed.lines, vec![(1, "1000".into(), "alice".into())]);
        assert_eq!(
            parsed.speed_dials,
            vec![("Mum".into(), "0612345678".into())]
        );
        assert_eq!(parsed.call_manager, Some(("10.0.0.1".into(), 5060)));
        assert!(parsed.remote_cc && parsed.transport_tcp);
        assert_eq!(
            parsed.services,
            vec![(
                1,
                "Corporate Directory".into(),
                "http://10.0.0.1:8080/ccmcip/xmldirectory.jsp".into()
            )]
        );
        assert!(a.to_xml().contains("Alice &amp; Co"));
    }
}
