//! Locating SIP servers (RFC 3263, client side): which transport, address and port to send a
//! request to for a URI. Trunks to other systems use it.
//!
//! The algorithm is written against [`Lookup`], so it is tested exactly; hickory-resolver
//! implements `Lookup` for real DNS.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};

use rand::Rng;

use crate::endpoint::{Peer, Transport};
use crate::uri::{Host, Scheme, Uri};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Naptr {
    pub order: u16,
    pub preference: u16,
    pub flags: String,
    pub services: String,
    pub replacement: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Srv {
    pub priority: u16,
    pub weight: u16,
    pub port: u16,
    pub target: String,
}

/// The DNS questions RFC 3263 asks. An error or no answer is an empty list.
pub trait Lookup: Sync {
    fn naptr<'a>(&'a self, name: &'a str) -> impl Future<Output = Vec<Naptr>> + Send + 'a;
    fn srv<'a>(&'a self, name: &'a str) -> impl Future<Output = Vec<Srv>> + Send + 'a;
    fn ip<'a>(&'a self, name: &'a str) -> impl Future<Output = Vec<IpAddr>> + Send + 'a;
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LocateError {
    #[error("the URI names no host (a tel: URI needs a route)")]
    NoHost,
    #[error("transport '{0}' is not supported")]
    Transport(String),
    #[error("no address found for {0}")]
    NotFound(String),
}

fn default_port(t: Transport) -> u16 {
    match t {
        Transport::Tls | Transport::Wss => 5061,
        _ => 5060,
    }
}

fn srv_name(t: Transport, host: &str) -> String {
    match t {
        Transport::Udp => format!("_sip._udp.{host}"),
        Transport::Tcp => format!("_sip._tcp.{host}"),
        Transport::Tls => format!("_sips._tcp.{host}"),
        Transport::Ws => format!("_sip._ws.{host}"),
        Transport::Wss => format!("_sips._ws.{host}"),
    }
}

fn naptr_transport(services: &str) -> Option<Transport> {
    match services.to_ascii_uppercase().as_str() {
        "SIP+D2U" => Some(Transport::Udp),
        "SIP+D2T" => Some(Transport::Tcp),
        "SIPS+D2T" => Some(Transport::Tls),
        "SIP+D2W" => Some(Transport::Ws),
        "SIPS+D2W" => Some(Transport::Wss),
        _ => None,
    }
}

fn param_transport(p: &str) -> Option<Transport> {
    match p.to_ascii_lowercase().as_str() {
        "udp" => Some(Transport::Udp),
        "tcp" => Some(Transport::Tcp),
        "tls" => Some(Transport::Tls),
        "ws" => Some(Transport::Ws),
        "wss" => Some(Transport::Wss),
        _ => None,
    }
}

/// Secure URIs only go over secure transports (RFC 3263 4.1).
fn secure_variant(t: Transport, secure: bool) -> Transport {
    match (t, secure) {
        (Transport::Tcp | Transport::Udp, true) => Transport::Tls,
        (Transport::Ws, true) => Transport::Wss,
        _ => t,
    }
}

/// Order SRV records as RFC 2782 says: by priority, and within a priority by a weighted
/// random draw.
pub fn order_srv(mut records: Vec<Srv>) -> Vec<Srv> {
    records.sort_by_key(|r| r.priority);
    let mut out = Vec::with_capacity(records.len());
    let mut rng = rand::thread_rng();
    while !records.is_empty() {
        let p = records[0].priority;
        let end = records
            .iter()
            .position(|r| r.priority != p)
            .unwrap_or(records.len());
        let mut group: Vec<Srv> = records.drain(..end).collect();
        while !group.is_empty() {
            let total: u32 = group.iter().map(|r| r.weight as u32).sum();
            let pick = if total == 0 {
                0
            } else {
                let mut draw = rng.gen_range(0..=total);
                group
                    .iter()
                    .position(|r| {
                        if draw <= r.weight as u32 {
                            true
                        } else {
                            draw -= r.weight as u32;
                            false
                        }
                    })
                    .unwrap_or(0)
            };
            out.push(group.remove(pick));
        }
    }
    out
}

async fn addresses<L: Lookup>(dns: &L, host: &str, port: u16, t: Transport) -> Vec<Peer> {
    dns.ip(host)
        .await
        .into_iter()
        .map(|ip| Peer {
            transport: t,
            addr: SocketAddr::new(ip, port),
        })
        .collect()
}

async fn from_srv<L: Lookup>(dns: &L, name: &str, t: Transport) -> Vec<Peer> {
    let mut out = Vec::new();
    for r in order_srv(dns.srv(name).await) {
        let target = r.target.trim_end_matches('.');
        if target.is_empty() {
            continue; // "." means the service is decidedly not available
        }
        out.extend(addresses(dns, target, r.port, t).await);
    }
    out
}

/// Where to send a request for `uri`, in the order to try; `supported` lists our transports
/// in order of preference.
pub async fn locate<L: Lookup>(
    dns: &L,
    uri: &Uri<'_>,
    supported: &[Transport],
) -> Result<Vec<Peer>, LocateError> {
    let secure = uri.scheme == Scheme::Sips;
    let host = uri.host.ok_or(LocateError::NoHost)?;
    let wanted = match uri.param("transport") {
        Some(p) => Some(secure_variant(
            param_transport(p).ok_or_else(|| LocateError::Transport(p.to_string()))?,
            secure,
        )),
        None => None,
    };
    if let Some(t) = wanted {
        if !supported.contains(&t) {
            return Err(LocateError::Transport(t.as_str().to_string()));
        }
    }
    let default_t = wanted.unwrap_or(if secure {
        Transport::Tls
    } else {
        Transport::Udp
    });
    let name = match host {
        // A numeric address: no DNS at all.
        Host::V4(a) => {
            let addr = SocketAddr::new(IpAddr::V4(a), uri.port.unwrap_or(default_port(default_t)));
            return Ok(vec![Peer {
                transport: default_t,
                addr,
            }]);
        }
        Host::V6(a) => {
            let addr = SocketAddr::new(IpAddr::V6(a), uri.port.unwrap_or(default_port(default_t)));
            return Ok(vec![Peer {
                transport: default_t,
                addr,
            }]);
        }
        Host::Name(n) => n,
    };
    let not_found = || LocateError::NotFound(name.to_string());
    // An explicit port: address records only (RFC 3263 4.2).
    if let Some(port) = uri.port {
        let peers = addresses(dns, name, port, default_t).await;
        return if peers.is_empty() {
            Err(not_found())
        } else {
            Ok(peers)
        };
    }
    // A transport from the URI: its SRV records, else the address with the default port.
    if let Some(t) = wanted {
        let peers = from_srv(dns, &srv_name(t, name), t).await;
        if !peers.is_empty() {
            return Ok(peers);
        }
        let peers = addresses(dns, name, default_port(t), t).await;
        return if peers.is_empty() {
            Err(not_found())
        } else {
            Ok(peers)
        };
    }
    // NAPTR: the domain's preferred transports, in its order, that we support.
    let mut naptr: Vec<(u16, u16, Transport, String)> = dns
        .naptr(name)
        .await
        .into_iter()
        .filter(|n| n.flags.eq_ignore_ascii_case("s"))
        .filter_map(|n| {
            let t = naptr_transport(&n.services)?;
            let ok =
                supported.contains(&t) && (!secure || matches!(t, Transport::Tls | Transport::Wss));
            ok.then_some((n.order, n.preference, t, n.replacement))
        })
        .collect();
    naptr.sort_by_key(|(o, p, _, _)| (*o, *p));
    for (_, _, t, replacement) in naptr {
        let peers = from_srv(dns, replacement.trim_end_matches('.'), t).await;
        if !peers.is_empty() {
            return Ok(peers);
        }
    }
    // No NAPTR: SRV for each transport we support, in our order.
    for &t in supported {
        if secure && !matches!(t, Transport::Tls | Transport::Wss) {
            continue;
        }
        let peers = from_srv(dns, &srv_name(t, name), t).await;
        if !peers.is_empty() {
            return Ok(peers);
        }
    }
    // Finally the address records, UDP (or TLS for sips) on the default port.
    let peers = addresses(dns, name, default_port(default_t), default_t).await;
    if peers.is_empty() {
        Err(not_found())
    } else {
        Ok(peers)
    }
}

/// DNS through hickory-resolver.
pub mod hickory {
    use super::*;
    use hickory_resolver::proto::rr::{RData, RecordType};
    use hickory_resolver::TokioResolver;

    /// A resolver from the system's configuration (/etc/resolv.conf, /etc/hosts).
    pub fn system() -> Result<TokioResolver, std::io::Error> {
        TokioResolver::builder_tokio()
            .map_err(std::io::Error::other)?
            .build()
            .map_err(std::io::Error::other)
    }

    impl Lookup for TokioResolver {
        async fn naptr(&self, name: &str) -> Vec<Naptr> {
            {
                let Ok(l) = self.lookup(name, RecordType::NAPTR).await else {
                    return Vec::new();
                };
                l.answers()
                    .iter()
                    .filter_map(|r| match &r.data {
                        RData::NAPTR(n) => Some(Naptr {
                            order: n.order,
                            preference: n.preference,
                            flags: String::from_utf8_lossy(&n.flags).to_string(),
                            services: String::from_utf8_lossy(&n.services).to_string(),
                            replacement: n.replacement.to_string(),
                        }),
                        _ => None,
                    })
                    .collect()
            }
        }

        async fn srv(&self, name: &str) -> Vec<Srv> {
            {
                let Ok(l) = self.lookup(name, RecordType::SRV).await else {
                    return Vec::new();
                };
                l.answers()
                    .iter()
                    .filter_map(|r| match &r.data {
                        RData::SRV(s) => Some(Srv {
                            priority: s.priority,
                            weight: s.weight,
                            port: s.port,
                            target: s.target.to_string(),
                        }),
                        _ => None,
                    })
                    .collect()
            }
        }

        async fn ip(&self, name: &str) -> Vec<IpAddr> {
            {
                match self.lookup_ip(name).await {
                    Ok(l) => l.iter().collect(),
                    Err(_) => Vec::new(),
                }
            }
        }
    }
}
