//! The multicast addresses pages take: one per page in progress, so two pages at once never
//! share an address. Sites (`paging-sites` in the store: a device pool and a range of its own)
//! keep pages to different buildings apart on the network too, as the seed's IGMP note asks:
//! a page whose phones are all in one site's device pool takes an address of that site's
//! range; any other page takes one of the node's range that lies in no site's range.

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::{Arc, Mutex};

use dialtone_platform::PagingAddresses;
use serde_json::Value;

/// A site: the device pool whose phones are its own and its range of addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    pub name: String,
    pub device_pool: String,
    pub first: Ipv4Addr,
    pub count: u32,
}

impl Site {
    /// A site from its stored record (the store has checked every field).
    pub fn from_record(r: &Value) -> Option<Site> {
        let text = |k: &str| r.get(k).and_then(Value::as_str).map(str::to_string);
        Some(Site {
            name: text("name")?,
            device_pool: text("device_pool")?,
            first: text("multicast_first")?.parse().ok()?,
            count: u32::try_from(r.get("multicast_count")?.as_u64()?).ok()?,
        })
    }

    fn contains(&self, ip: u32) -> bool {
        let first = u32::from(self.first);
        ip >= first && u64::from(ip) < u64::from(first) + u64::from(self.count)
    }
}

pub struct Addresses {
    range: PagingAddresses,
    pub ttl: u32,
    /// Every address in use now, sites' and the node's alike.
    taken: Arc<Mutex<BTreeSet<u32>>>,
}

/// An address held by one page; given back when dropped.
pub struct Lease {
    ip: u32,
    address: SocketAddr,
    /// The site whose range it is from, if any.
    pub site: Option<String>,
    taken: Arc<Mutex<BTreeSet<u32>>>,
}

impl Lease {
    pub fn address(&self) -> SocketAddr {
        self.address
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.taken.lock().expect("addresses").remove(&self.ip);
    }
}

impl Addresses {
    pub fn new(range: PagingAddresses) -> Addresses {
        Addresses {
            ttl: range.ttl,
            range,
            taken: Arc::default(),
        }
    }

    /// The lowest free address for a page to phones in `pools` (each phone's device pool):
    /// from the site whose device pool they all share, else from the node's range outside
    /// every site's. None when every such address is in use.
    pub fn take(&self, sites: &[Site], pools: &[&str]) -> Option<Lease> {
        let site = pools.first().and_then(|first| {
            pools
                .iter()
                .all(|p| p == first)
                .then(|| sites.iter().find(|s| s.device_pool == *first))
                .flatten()
        });
        let (first, count) = match site {
            Some(s) => (u32::from(s.first), s.count),
            None => (u32::from(self.range.first), self.range.count),
        };
        let mut taken = self.taken.lock().expect("addresses");
        let ip = (0..count).filter_map(|i| first.checked_add(i)).find(|ip| {
            !taken.contains(ip) && (site.is_some() || !sites.iter().any(|s| s.contains(*ip)))
        })?;
        taken.insert(ip);
        Some(Lease {
            ip,
            address: SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::from(ip), self.range.port)),
            site: site.map(|s| s.name.clone()),
            taken: self.taken.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(first: Ipv4Addr, count: u32) -> Addresses {
        Addresses::new(PagingAddresses {
            first,
            count,
            port: 20480,
            ttl: 1,
        })
    }

    #[test]
    fn pages_at_once_get_different_addresses_and_give_them_back() {
        let a = node(Ipv4Addr::new(239, 1, 1, 254), 2);
        let one = a.take(&[], &[]).unwrap();
        let two = a.take(&[], &[]).unwrap();
        assert_eq!(one.address().to_string(), "239.1.1.254:20480");
        assert_eq!(two.address().to_string(), "239.1.1.255:20480");
        assert!(a.take(&[], &[]).is_none(), "both in use");
        drop(one);
        assert_eq!(
            a.take(&[], &[]).unwrap().address().to_string(),
            "239.1.1.254:20480"
        );
    }

    #[test]
    fn a_sites_phones_take_its_range_and_others_keep_out_of_it() {
        let a = node(Ipv4Addr::new(239, 1, 0, 1), 4);
        let sites = [Site {
            name: "North".into(),
            device_pool: "North Pool".into(),
            first: Ipv4Addr::new(239, 1, 0, 1),
            count: 2,
        }];
        let north = a.take(&sites, &["North Pool", "North Pool"]).unwrap();
        assert_eq!(north.address().ip().to_string(), "239.1.0.1");
        assert_eq!(north.site.as_deref(), Some("North"));
        let mixed = a.take(&sites, &["North Pool", "Default"]).unwrap();
        assert_eq!(
            mixed.address().ip().to_string(),
            "239.1.0.3",
            "outside North's"
        );
        assert_eq!(mixed.site, None);
        let again = a.take(&sites, &["North Pool"]).unwrap();
        assert_eq!(again.address().ip().to_string(), "239.1.0.2");
        assert!(
            a.take(&sites, &["North Pool"]).is_none(),
            "North's range is full"
        );
        let last = a.take(&sites, &[]).unwrap();
        assert_eq!(last.address().ip().to_string(), "239.1.0.4");
        assert!(a.take(&sites, &["Default"]).is_none());
    }
}
