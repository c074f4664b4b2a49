//! The node's configuration: one TOML file, parsed then validated into a typed [`Config`].
//!
//! [`FIELDS`] documents every setting once. The example file (`dialtone init`, and the
//! committed `dialtone.example.toml`) is generated from it, environment overrides
//! (`DIALTONE_<SECTION>_<FIELD>`) are read through it, and tests check that it names exactly
//! the fields `Config` has.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub server: ServerSection,
    pub listen: ListenSection,
    pub tls: TlsSection,
    pub api: ApiSection,
    pub admin: AdminSection,
    pub sip: SipSection,
    pub phones: PhonesSection,
    pub log: LogSection,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerSection {
    pub node_name: String,
    pub public_host: String,
    pub data_dir: PathBuf,
    pub database: String,
    pub sip_realm: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ListenSection {
    pub address: String,
    pub http_port: u16,
    pub https_port: u16,
    pub sip_udp_port: u16,
    pub sip_tcp_port: u16,
    pub sip_tls_port: u16,
    pub config_http_port: u16,
    pub tftp_port: u16,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsSection {
    pub certificate: String,
    pub private_key: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiSection {
    pub allow_over_http: bool,
    pub max_body_bytes: u64,
    pub max_import_bytes: u64,
    pub event_buffer: u64,
    pub cti_deliveries_per_second: u64,
    pub cti_keepalive_seconds: u64,
    pub token_lifetime_minutes: u64,
    pub credential_cache_seconds: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdminSection {
    pub user_id: String,
    pub initial_password: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SipSection {
    pub t1_ms: u64,
    pub t2_ms: u64,
    pub t4_ms: u64,
    pub register_default_expires: u32,
    pub register_min_expires: u32,
    pub register_max_expires: u32,
    pub digest_algorithms: String,
    pub session_expires: u32,
    pub min_session_expires: u32,
    pub max_ringing_seconds: u32,
    pub timer_c_ms: u64,
    pub max_call_seconds: u32,
    pub trunk_failover_ms: u64,
    pub code_digit_timeout_ms: u64,
    pub reorder_ms: u64,
    pub forward_max_hops: u32,
    pub auth_free_failures: u32,
    pub auth_delay_ms: u64,
    pub auth_max_delay_ms: u64,
    pub auth_block_after: u32,
    pub auth_user_block_after: u32,
    pub auth_window_seconds: u64,
    pub auth_block_seconds: u64,
    pub auth_flood_per_second: u32,
    pub udp_buffer_bytes: u64,
}

impl Default for SipSection {
    fn default() -> Self {
        SipSection {
            t1_ms: 500,
            t2_ms: 4000,
            t4_ms: 5000,
            register_default_expires: 3600,
            register_min_expires: 60,
            register_max_expires: 7200,
            digest_algorithms: "MD5".into(),
            session_expires: 1800,
            min_session_expires: 90,
            max_ringing_seconds: 180,
            timer_c_ms: 210_000,
            max_call_seconds: 43_200,
            trunk_failover_ms: 2000,
            code_digit_timeout_ms: 10_000,
            reorder_ms: 10_000,
            forward_max_hops: 12,
            auth_free_failures: 3,
            auth_delay_ms: 250,
            auth_max_delay_ms: 4000,
            auth_block_after: 10,
            auth_user_block_after: 20,
            auth_window_seconds: 600,
            auth_block_seconds: 900,
            auth_flood_per_second: 20,
            udp_buffer_bytes: 1 << 20,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PhonesSection {
    pub web_port: u16,
    pub push_concurrency: u32,
    pub push_timeout_ms: u64,
    pub auth_failures_per_minute: u32,
    pub em_sweep_ms: u64,
    pub tftp_retransmit_ms: u64,
    pub tftp_attempts: u32,
    pub paging_multicast_first: String,
    pub paging_multicast_addresses: u32,
    pub paging_port: u16,
    pub paging_ttl: u32,
    pub hold_music: String,
}

impl Default for PhonesSection {
    fn default() -> Self {
        PhonesSection {
            web_port: 80,
            push_concurrency: 64,
            push_timeout_ms: 5000,
            auth_failures_per_minute: 10,
            em_sweep_ms: 1000,
            tftp_retransmit_ms: 1000,
            tftp_attempts: 5,
            paging_multicast_first: "239.192.20.1".into(),
            paging_multicast_addresses: 256,
            paging_port: 20480,
            paging_ttl: 1,
            hold_music: "melody".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogSection {
    pub format: String,
    pub level: String,
}

impl Default for ServerSection {
    fn default() -> Self {
        ServerSection {
            node_name: "dialtone-1".into(),
            public_host: "127.0.0.1".into(),
            data_dir: PathBuf::from("data"),
            database: String::new(),
            sip_realm: "dialtone".into(),
        }
    }
}

impl Default for ListenSection {
    fn default() -> Self {
        ListenSection {
            address: "127.0.0.1".into(),
            http_port: 8080,
            https_port: 8443,
            sip_udp_port: 5060,
            sip_tcp_port: 5060,
            sip_tls_port: 5061,
            config_http_port: 6970,
            tftp_port: 69,
        }
    }
}

impl Default for ApiSection {
    fn default() -> Self {
        ApiSection {
            allow_over_http: false,
            max_body_bytes: 1024 * 1024,
            max_import_bytes: 16 * 1024 * 1024,
            event_buffer: 4096,
            cti_deliveries_per_second: 200_000,
            cti_keepalive_seconds: 30,
            token_lifetime_minutes: 480,
            credential_cache_seconds: 3600,
        }
    }
}

impl Default for AdminSection {
    fn default() -> Self {
        AdminSection {
            user_id: "admin".into(),
            initial_password: String::new(),
        }
    }
}

impl Default for LogSection {
    fn default() -> Self {
        LogSection {
            format: "text".into(),
            level: "info".into(),
        }
    }
}

/// One documented setting: `section.field`, its default as written in TOML, and what it does.
pub struct FieldDoc {
    pub key: &'static str,
    pub default: &'static str,
    pub doc: &'static str,
}

pub const SECTIONS: &[(&str, &str)] = &[
    ("server", "This node and its store."),
    (
        "listen",
        "Where the node listens. Every port may be 0 (the system picks one; tests do this).",
    ),
    (
        "tls",
        "The HTTPS (and SIP TLS) certificate. Leave both empty to use a self-signed certificate generated at first start under data_dir/tls.",
    ),
    (
        "api",
        "Programmatic APIs (REST, and later WebDialer SOAP, the EM API and CTI). They carry credentials, so they answer over HTTPS only unless allow_over_http says otherwise.",
    ),
    ("admin", "The administrator account created at first start."),
    (
        "sip",
        "SIP timers (RFC 3261 section 17) and registration limits. Tests shrink the timers; phones expect the defaults.",
    ),
    (
        "phones",
        "Phones: their web servers (push), and the TFTP transfers of their configuration files.",
    ),
    ("log", "Logging."),
];

pub const FIELDS: &[FieldDoc] = &[
    FieldDoc { key: "server.node_name", default: "\"dialtone-1\"", doc: "This node's name in the cluster." },
    FieldDoc { key: "server.public_host", default: "\"127.0.0.1\"", doc: "Host name or address phones and clients reach this node at; it goes into every URL the node hands out." },
    FieldDoc { key: "server.data_dir", default: "\"data\"", doc: "Directory for the embedded database, generated certificates and demo credentials." },
    FieldDoc { key: "server.database", default: "\"\"", doc: "Database URL: empty for SQLite at data_dir/dialtone.db, sqlite://PATH, or postgres://USER:PASSWORD@HOST/DB for a cluster." },
    FieldDoc { key: "server.sip_realm", default: "\"dialtone\"", doc: "SIP digest realm. Stored device digests depend on it: changing it means setting every device's digest password again." },
    FieldDoc { key: "listen.address", default: "\"127.0.0.1\"", doc: "Address every listener binds (0.0.0.0 or :: for all)." },
    FieldDoc { key: "listen.http_port", default: "8080", doc: "HTTP: phone-facing pages (services, directories, authentication URL, Extension Mobility), health and metrics." },
    FieldDoc { key: "listen.https_port", default: "8443", doc: "HTTPS: everything on HTTP plus the APIs that carry credentials." },
    FieldDoc { key: "listen.sip_udp_port", default: "5060", doc: "SIP over UDP." },
    FieldDoc { key: "listen.sip_tcp_port", default: "5060", doc: "SIP over TCP." },
    FieldDoc { key: "listen.sip_tls_port", default: "5061", doc: "SIP over TLS." },
    FieldDoc { key: "listen.config_http_port", default: "6970", doc: "Phone configuration files (SEP<MAC>.cnf.xml) over HTTP, where phones set up for a Unified CM look; they are on http_port too." },
    FieldDoc { key: "listen.tftp_port", default: "69", doc: "Phone configuration files over TFTP (UDP). Port 69 needs privileges (root or CAP_NET_BIND_SERVICE): without them the node says so and serves the files over HTTP only." },
    FieldDoc { key: "tls.certificate", default: "\"\"", doc: "PEM certificate chain file." },
    FieldDoc { key: "tls.private_key", default: "\"\"", doc: "PEM private key file." },
    FieldDoc { key: "api.allow_over_http", default: "false", doc: "Also answer the credential-carrying APIs over plain HTTP." },
    FieldDoc { key: "api.max_body_bytes", default: "1048576", doc: "Largest request body accepted (bytes)." },
    FieldDoc { key: "api.max_import_bytes", default: "16777216", doc: "Largest bulk CSV file accepted over the API (bytes)." },
    FieldDoc { key: "api.event_buffer", default: "4096", doc: "Call-control events a watcher of /api/v1/events or of CTI may fall behind before it is told it lagged and must resynchronise." },
    FieldDoc { key: "api.cti_keepalive_seconds", default: "30", doc: "CTI WebSocket clients are pinged this often; one silent for three pings, or not reading what is written to it for one, is dropped with its watches." },
    FieldDoc { key: "api.cti_deliveries_per_second", default: "200000", doc: "Most CTI event deliveries (one event to one watcher) per second: beyond it watchers lag and resynchronise, so monitoring never takes the CPU that calls need." },
    FieldDoc { key: "api.token_lifetime_minutes", default: "480", doc: "How long a bearer token from POST /api/v1/auth/token lasts." },
    FieldDoc { key: "api.credential_cache_seconds", default: "3600", doc: "How long a verified password is remembered (as a keyed MAC) before it is checked in full again." },
    FieldDoc { key: "admin.user_id", default: "\"admin\"", doc: "User ID of the administrator created at first start." },
    FieldDoc { key: "admin.initial_password", default: "\"\"", doc: "That administrator's password; empty to generate one and print it once." },
    FieldDoc { key: "sip.t1_ms", default: "500", doc: "T1, the round-trip estimate, in milliseconds (RFC 3261 default 500)." },
    FieldDoc { key: "sip.t2_ms", default: "4000", doc: "T2, the longest retransmission interval, in milliseconds (default 4000)." },
    FieldDoc { key: "sip.t4_ms", default: "5000", doc: "T4, the longest a message stays in the network, in milliseconds (default 5000)." },
    FieldDoc { key: "sip.register_default_expires", default: "3600", doc: "Seconds a registration lasts when the phone does not say." },
    FieldDoc { key: "sip.register_min_expires", default: "60", doc: "Shortest registration granted, in seconds." },
    FieldDoc { key: "sip.register_max_expires", default: "7200", doc: "Longest registration granted, in seconds." },
    FieldDoc { key: "sip.digest_algorithms", default: "\"MD5\"", doc: "Digest algorithms the registrar offers, in order: \"MD5\", \"SHA-256\" or \"SHA-256,MD5\". Offer SHA-256 only where every phone supports it: some (baresip 1.x, many hardware phones) give up when any challenge names an algorithm they lack. Both hashes are stored, so changing this needs no password reset." },
    FieldDoc { key: "sip.session_expires", default: "1800", doc: "Session interval in seconds Dialtone asks of called phones and trunks (RFC 4028 session timers), so calls whose far end vanished are cleaned up; 0 turns it off." },
    FieldDoc { key: "sip.min_session_expires", default: "90", doc: "Shortest session interval accepted from a caller, in seconds; shorter ones get 422 with Min-SE (RFC 4028 says 90; lower only in tests)." },
    FieldDoc { key: "sip.max_ringing_seconds", default: "180", doc: "A call that nobody answers (and no forward takes) is given up after this many seconds with 480." },
    FieldDoc { key: "sip.max_call_seconds", default: "43200", doc: "Unified CM's Maximum Call Duration Timer (720 minutes), in seconds: a call is hung up after it (0: no limit), so calls whose phones vanished end even without session timers." },
    FieldDoc { key: "sip.timer_c_ms", default: "210000", doc: "Timer C (RFC 3261 16.6), in milliseconds: the longest an INVITE waits for a final response after ringing before the transaction cancels it by itself. Must exceed sip.max_ringing_seconds, which ends calls first." },
    FieldDoc { key: "sip.code_digit_timeout_ms", default: "10000", doc: "A Forced Authorization or Client Matter Code keyed at the prompt tone ends after this many milliseconds without a digit (or at #)." },
    FieldDoc { key: "sip.reorder_ms", default: "10000", doc: "A caller the node answered (to ask for a code) whose call then fails hears the reorder tone this many milliseconds before it is hung up." },
    FieldDoc { key: "sip.trunk_failover_ms", default: "2000", doc: "A trunk that gives no provisional answer within this many milliseconds is skipped for the next trunk of the route list." },
    FieldDoc { key: "sip.forward_max_hops", default: "12", doc: "Most times one call may be forwarded (Unified CM's Forward Maximum Hop Count); a longer chain is a loop and fails with 482." },
    FieldDoc { key: "sip.auth_free_failures", default: "3", doc: "Failed digest checks (REGISTER or INVITE) from one source address answered at once; each further one waits before its challenge." },
    FieldDoc { key: "sip.auth_delay_ms", default: "250", doc: "The first such wait, in milliseconds; it doubles with each further failure, up to sip.auth_max_delay_ms." },
    FieldDoc { key: "sip.auth_max_delay_ms", default: "4000", doc: "The longest wait before a challenge, in milliseconds." },
    FieldDoc { key: "sip.auth_block_after", default: "10", doc: "Failed digest checks from one source address (within sip.auth_window_seconds) that block it: its requests get 403, or no answer while it floods." },
    FieldDoc { key: "sip.auth_user_block_after", default: "20", doc: "Failed digest checks for one user name from addresses that never authenticated as it that lock the name for such addresses; the user's own phones go on." },
    FieldDoc { key: "sip.auth_window_seconds", default: "600", doc: "Failed checks older than this are forgotten, in seconds." },
    FieldDoc { key: "sip.auth_block_seconds", default: "900", doc: "How long a block lasts, in seconds; GET /api/v1/sip/blocks lists blocks and DELETE lifts them." },
    FieldDoc { key: "sip.auth_flood_per_second", default: "20", doc: "A blocked source sending more requests than this in a second gets no answer at all." },
    FieldDoc { key: "sip.udp_buffer_bytes", default: "1048576", doc: "Receive and send buffer of the SIP UDP socket, in bytes: a burst at thousands of calls a second overflows the kernel's default (about 200 KB) and loses datagrams, while a much larger one holds requests past their retransmission in overload (4 MiB did); the kernel caps it at net.core.rmem_max and wmem_max." },
    FieldDoc { key: "phones.web_port", default: "80", doc: "Port of the phones' own web servers, where pushes go (http://<the phone's registered address>:<port>/CGI/Execute)." },
    FieldDoc { key: "phones.push_concurrency", default: "64", doc: "Most pushes to phones in flight at once; a push to many phones waits its turn." },
    FieldDoc { key: "phones.push_timeout_ms", default: "5000", doc: "How long a push waits for a phone to answer, in milliseconds." },
    FieldDoc { key: "phones.auth_failures_per_minute", default: "10", doc: "Wrong passwords a user ID may send the phones' Authentication URL (/ccmcip/authenticate.jsp) in a minute; past them it answers UN-AUTHORIZED without checking until the minute is up." },
    FieldDoc { key: "phones.em_sweep_ms", default: "1000", doc: "How often Extension Mobility looks for logins past their maximum login time, in milliseconds (the logout happens within this of the time)." },
    FieldDoc { key: "phones.tftp_retransmit_ms", default: "1000", doc: "How long TFTP waits for a block's acknowledgement before sending it again, in milliseconds." },
    FieldDoc { key: "phones.tftp_attempts", default: "5", doc: "Sends of one TFTP block before the transfer is given up." },
    FieldDoc { key: "phones.paging_multicast_first", default: "\"239.192.20.1\"", doc: "The first multicast address pages are sent to (239/8: phones do not join 224.x.x.x); each page in progress takes its own address, so two pages never share one (IGMP joins name the address, not the port)." },
    FieldDoc { key: "phones.paging_multicast_addresses", default: "256", doc: "How many addresses from paging_multicast_first pages may use: the most pages at once." },
    FieldDoc { key: "phones.paging_port", default: "20480", doc: "The even UDP port pages are sent to (Cisco phones take 20480 to 32768)." },
    FieldDoc { key: "phones.paging_ttl", default: "1", doc: "Router hops a page's multicast packets may cross (1: the node's subnet only)." },
    FieldDoc { key: "phones.hold_music", default: "\"melody\"", doc: "What a held party hears: \"melody\" (the tune that ships with Dialtone), \"silence\" (the hold reaches the held phone as the holder sent it), or a WAV file's path (any common rate; read at start-up, so a file that is not audio stops it)." },
    FieldDoc { key: "log.format", default: "\"text\"", doc: "\"text\" or \"json\"." },
    FieldDoc { key: "log.level", default: "\"info\"", doc: "Level or filter, e.g. \"info\" or \"info,dialtone_store=debug\" (RUST_LOG overrides it)." },
];

/// The documented example configuration, generated from [`FIELDS`].
pub fn example() -> String {
    let mut out = String::from(
        "# Dialtone node configuration. Every setting is shown with its default.\n\
         # Any setting can also come from the environment as DIALTONE_<SECTION>_<FIELD>,\n\
         # e.g. DIALTONE_LISTEN_HTTP_PORT=9080.\n",
    );
    for (section, doc) in SECTIONS {
        out.push_str(&format!("\n# {doc}\n[{section}]\n"));
        for f in FIELDS
            .iter()
            .filter(|f| f.key.split('.').next() == Some(section))
        {
            let name = &f.key[section.len() + 1..];
            out.push_str(&format!("# {}\n{name} = {}\n", f.doc, f.default));
        }
    }
    out
}

/// Why the configuration cannot be used; always names the field.
#[derive(Debug, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ConfigError {
    pub field: String,
    pub message: String,
}

fn err(field: &str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        field: field.to_string(),
        message: message.into(),
    }
}

fn env_name(key: &str) -> String {
    format!("DIALTONE_{}", key.replace('.', "_").to_ascii_uppercase())
}

/// Put environment overrides into the parsed TOML, typed like each field's default.
fn apply_env(
    table: &mut toml::Table,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(), ConfigError> {
    for f in FIELDS {
        let var = env_name(f.key);
        let Some(raw) = env(&var) else { continue };
        let value = if f.default.starts_with('"') {
            toml::Value::String(raw)
        } else if f.default == "true" || f.default == "false" {
            match raw.as_str() {
                "true" | "1" | "yes" => toml::Value::Boolean(true),
                "false" | "0" | "no" => toml::Value::Boolean(false),
                _ => return Err(err(&var, "expected true or false")),
            }
        } else {
            toml::Value::Integer(
                raw.parse()
                    .map_err(|_| err(&var, "expected a whole number"))?,
            )
        };
        let (section, name) = f.key.split_once('.').expect("keys are section.field");
        let sec = table
            .entry(section)
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        match sec {
            toml::Value::Table(t) => {
                t.insert(name.to_string(), value);
            }
            _ => return Err(err(section, "expected a table")),
        }
    }
    Ok(())
}

impl Config {
    /// Parse and validate TOML text, with overrides from `env`.
    pub fn parse(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let mut table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| err("(file)", e.to_string().trim().replace('\n', " ")))?;
        apply_env(&mut table, env)?;
        let config: Config =
            serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|e| {
                let path = e.path().to_string();
                let inner = e.into_inner().to_string();
                err(if path == "." { "(file)" } else { &path }, inner.trim())
            })?;
        config.validate()?;
        Ok(config)
    }

    /// Read the file (or defaults when `path` is None) with overrides from the process
    /// environment.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let text = match path {
            Some(p) => std::fs::read_to_string(p)
                .map_err(|e| err("--config", format!("cannot read {}: {e}", p.display())))?,
            None => String::new(),
        };
        Config::parse(&text, &|k| std::env::var(k).ok())
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.server.node_name.trim().is_empty() {
            return Err(err("server.node_name", "must not be empty"));
        }
        let host = &self.server.public_host;
        if host.is_empty() || host.contains(['/', ' ', '?', '#']) {
            return Err(err("server.public_host", "must be a host name or address"));
        }
        if self.server.data_dir.as_os_str().is_empty() {
            return Err(err("server.data_dir", "must not be empty"));
        }
        let db = &self.server.database;
        if !db.is_empty() && dialtone_store::Backend::of(db).is_none() {
            return Err(err(
                "server.database",
                "must be empty, sqlite://PATH or postgres://...",
            ));
        }
        if self.server.sip_realm.is_empty() || self.server.sip_realm.contains(['"', '\\']) {
            return Err(err(
                "server.sip_realm",
                "must be non-empty without quotes or backslashes",
            ));
        }
        self.listen
            .address
            .parse::<IpAddr>()
            .map_err(|_| err("listen.address", "must be an IP address"))?;
        if self.listen.http_port != 0 && self.listen.http_port == self.listen.https_port {
            return Err(err(
                "listen.https_port",
                "must differ from listen.http_port",
            ));
        }
        match (
            self.tls.certificate.is_empty(),
            self.tls.private_key.is_empty(),
        ) {
            (true, true) => {}
            (false, true) => {
                return Err(err(
                    "tls.private_key",
                    "must be set when tls.certificate is",
                ))
            }
            (true, false) => {
                return Err(err(
                    "tls.certificate",
                    "must be set when tls.private_key is",
                ))
            }
            (false, false) => {
                for (field, path) in [
                    ("tls.certificate", &self.tls.certificate),
                    ("tls.private_key", &self.tls.private_key),
                ] {
                    if !Path::new(path).is_file() {
                        return Err(err(field, format!("no file at {path}")));
                    }
                }
            }
        }
        if !(1024..=1024 * 1024 * 1024).contains(&self.api.max_body_bytes) {
            return Err(err("api.max_body_bytes", "must be from 1024 to 1073741824"));
        }
        if !(1024..=1024 * 1024 * 1024).contains(&self.api.max_import_bytes) {
            return Err(err(
                "api.max_import_bytes",
                "must be from 1024 to 1073741824",
            ));
        }
        if self.api.token_lifetime_minutes == 0 {
            return Err(err("api.token_lifetime_minutes", "must be at least 1"));
        }
        if self.api.cti_keepalive_seconds == 0 {
            return Err(err("api.cti_keepalive_seconds", "must be at least 1"));
        }
        if self.api.cti_deliveries_per_second < 100 {
            return Err(err("api.cti_deliveries_per_second", "must be at least 100"));
        }
        if self.sip.t1_ms == 0 || self.sip.t2_ms < self.sip.t1_ms {
            return Err(err("sip.t2_ms", "T1 must be at least 1 and T2 at least T1"));
        }
        if self.sip.timer_c_ms <= self.sip.max_ringing_seconds as u64 * 1000 {
            return Err(err(
                "sip.timer_c_ms",
                "must exceed sip.max_ringing_seconds (calls are given up before Timer C)",
            ));
        }
        if self.sip.auth_block_after == 0 || self.sip.auth_user_block_after == 0 {
            return Err(err(
                "sip.auth_block_after",
                "sip.auth_block_after and sip.auth_user_block_after must be at least 1",
            ));
        }
        if self.sip.auth_max_delay_ms < self.sip.auth_delay_ms {
            return Err(err(
                "sip.auth_max_delay_ms",
                "must be at least sip.auth_delay_ms",
            ));
        }
        if self.sip.register_min_expires > self.sip.register_max_expires {
            return Err(err(
                "sip.register_min_expires",
                "must not exceed sip.register_max_expires",
            ));
        }
        if self.sip.session_expires != 0 && self.sip.session_expires < self.sip.min_session_expires
        {
            return Err(err(
                "sip.session_expires",
                "must be 0 or at least sip.min_session_expires",
            ));
        }
        if self.sip.min_session_expires == 0 {
            return Err(err("sip.min_session_expires", "must be at least 1"));
        }
        if self.digest_algorithms().is_empty() {
            return Err(err(
                "sip.digest_algorithms",
                "must list MD5 and/or SHA-256, separated by commas",
            ));
        }
        if self.phones.push_concurrency == 0 {
            return Err(err("phones.push_concurrency", "must be at least 1"));
        }
        if self.phones.auth_failures_per_minute == 0 {
            return Err(err("phones.auth_failures_per_minute", "must be at least 1"));
        }
        if self.phones.em_sweep_ms == 0 {
            return Err(err("phones.em_sweep_ms", "must be at least 1"));
        }
        if self.phones.push_timeout_ms == 0 {
            return Err(err("phones.push_timeout_ms", "must be at least 1"));
        }
        if self.phones.tftp_retransmit_ms == 0 || self.phones.tftp_attempts == 0 {
            return Err(err(
                "phones.tftp_attempts",
                "TFTP needs a retransmission time and at least one attempt",
            ));
        }
        match self
            .phones
            .paging_multicast_first
            .parse::<std::net::Ipv4Addr>()
        {
            Ok(a) if a.octets()[0] == 239 => {}
            _ => return Err(err(
                "phones.paging_multicast_first",
                "must be an IPv4 multicast address in 239.0.0.0/8 (phones do not join 224.x.x.x)",
            )),
        }
        if self.phones.paging_multicast_addresses == 0
            || self.phones.paging_multicast_addresses > 65_536
        {
            return Err(err(
                "phones.paging_multicast_addresses",
                "must be 1 to 65536",
            ));
        }
        if !(20480..=32768).contains(&self.phones.paging_port)
            || !self.phones.paging_port.is_multiple_of(2)
        {
            return Err(err(
                "phones.paging_port",
                "must be even, 20480 to 32768 (the ports Cisco phones receive on)",
            ));
        }
        if !(100..=300_000).contains(&self.sip.code_digit_timeout_ms) {
            return Err(err("sip.code_digit_timeout_ms", "must be 100 to 300000"));
        }
        if self.sip.reorder_ms > 120_000 {
            return Err(err("sip.reorder_ms", "must be at most 120000"));
        }
        if self.phones.paging_ttl == 0 || self.phones.paging_ttl > 255 {
            return Err(err("phones.paging_ttl", "must be 1 to 255"));
        }
        crate::hold_music::Audio::from_config(&self.phones.hold_music)
            .map_err(|e| err("phones.hold_music", e.to_string()))?;
        if self.admin.user_id.trim().is_empty() {
            return Err(err("admin.user_id", "must not be empty"));
        }
        if !["text", "json"].contains(&self.log.format.as_str()) {
            return Err(err("log.format", "must be \"text\" or \"json\""));
        }
        tracing_subscriber::EnvFilter::try_new(&self.log.level)
            .map_err(|e| err("log.level", e.to_string()))?;
        Ok(())
    }

    /// The password-guessing guard's settings.
    pub fn guard(&self) -> dialtone_sip::guard::GuardConfig {
        let s = &self.sip;
        dialtone_sip::guard::GuardConfig {
            free_failures: s.auth_free_failures,
            delay: std::time::Duration::from_millis(s.auth_delay_ms),
            max_delay: std::time::Duration::from_millis(s.auth_max_delay_ms),
            source_block_after: s.auth_block_after,
            user_block_after: s.auth_user_block_after,
            window: std::time::Duration::from_secs(s.auth_window_seconds),
            block_for: std::time::Duration::from_secs(s.auth_block_seconds),
            flood_per_second: s.auth_flood_per_second,
            ..dialtone_sip::guard::GuardConfig::default()
        }
    }

    /// The digest algorithms to offer, parsed; empty when the setting is invalid.
    pub fn digest_algorithms(&self) -> Vec<dialtone_sip::digest::Algorithm> {
        let mut out = Vec::new();
        for part in self.sip.digest_algorithms.split(',').map(str::trim) {
            let a = match part.to_ascii_uppercase().as_str() {
                "MD5" => dialtone_sip::digest::Algorithm::Md5,
                "SHA-256" => dialtone_sip::digest::Algorithm::Sha256,
                _ => return Vec::new(),
            };
            if out.contains(&a) {
                return Vec::new();
            }
            out.push(a);
        }
        out
    }

    /// The database URL in effect.
    pub fn database_url(&self) -> String {
        if self.server.database.is_empty() {
            format!(
                "sqlite://{}",
                self.server.data_dir.join("dialtone.db").display()
            )
        } else {
            self.server.database.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn example_parses_to_the_defaults() {
        assert_eq!(
            Config::parse(&example(), &no_env).unwrap(),
            Config::default()
        );
        assert_eq!(Config::parse("", &no_env).unwrap(), Config::default());
    }

    #[test]
    fn every_field_is_documented_and_every_doc_is_a_field() {
        let value = toml::Value::try_from(Config::default()).unwrap();
        let mut keys = Vec::new();
        for (section, t) in value.as_table().unwrap() {
            for name in t.as_table().unwrap().keys() {
                keys.push(format!("{section}.{name}"));
            }
        }
        keys.sort();
        let mut documented: Vec<String> = FIELDS.iter().map(|f| f.key.to_string()).collect();
        documented.sort();
        assert_eq!(keys, documented);
        for (section, _) in SECTIONS {
            assert!(value.get(section).is_some(), "section {section}");
        }
    }

    #[test]
    fn committed_example_is_current() {
        let committed = include_str!("../../../dialtone.example.toml");
        assert_eq!(
            committed,
            example(),
            "dialtone.example.toml is stale: run `cargo run -p dialtone -- init --force --output dialtone.example.toml`"
        );
    }

    fn field_of(text: &str) -> String {
        Config::parse(text, &no_env).unwrap_err().field
    }

    #[test]
    fn bad_files_name_the_field() {
        assert_eq!(
            field_of("[listen]\nhttp_port = 70000\n"),
            "listen.http_port"
        );
        assert_eq!(
            field_of("[listen]\nhttp_port = \"80\"\n"),
            "listen.http_port"
        );
        assert_eq!(
            field_of("[listen]\naddress = \"localhost\"\n"),
            "listen.address"
        );
        assert_eq!(field_of("[server]\ncolour = 1\n"), "server.colour");
        assert_eq!(field_of("[nonsense]\n"), "nonsense");
        assert_eq!(
            field_of("[server]\ndatabase = \"mysql://x\"\n"),
            "server.database"
        );
        assert_eq!(
            field_of("[tls]\ncertificate = \"/x.pem\"\n"),
            "tls.private_key"
        );
        assert_eq!(field_of("[log]\nformat = \"xml\"\n"), "log.format");
        assert_eq!(
            field_of("[api]\ntoken_lifetime_minutes = 0\n"),
            "api.token_lifetime_minutes"
        );
        assert_eq!(field_of("this is = not toml ["), "(file)");
        let e = Config::parse("[server]\ncolour = 1\n", &no_env).unwrap_err();
        assert!(e.message.contains("colour"), "{e}");
    }

    #[test]
    fn environment_overrides_are_typed() {
        let env = |k: &str| match k {
            "DIALTONE_LISTEN_HTTP_PORT" => Some("9080".to_string()),
            "DIALTONE_API_ALLOW_OVER_HTTP" => Some("true".to_string()),
            "DIALTONE_SERVER_PUBLIC_HOST" => Some("pbx.example.com".to_string()),
            _ => None,
        };
        let c = Config::parse("[listen]\nhttp_port = 1\n", &env).unwrap();
        assert_eq!(c.listen.http_port, 9080);
        assert!(c.api.allow_over_http);
        assert_eq!(c.server.public_host, "pbx.example.com");
        let bad = |k: &str| (k == "DIALTONE_LISTEN_HTTP_PORT").then(|| "eighty".to_string());
        assert_eq!(
            Config::parse("", &bad).unwrap_err().field,
            "DIALTONE_LISTEN_HTTP_PORT"
        );
    }
}
