//! The multicast addresses pages take: one per page in progress, so two pages at once (two
//! sites paging together) never share an address, which IGMP would carry to both sites.

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::{Arc, Mutex};

use dialtone_platform::PagingAddresses;

pub struct Addresses {
    range: PagingAddresses,
    pub ttl: u32,
    taken: Arc<Mutex<BTreeSet<u32>>>,
}

/// An address held by one page; given back when dropped.
pub struct Lease {
    index: u32,
    address: SocketAddr,
    taken: Arc<Mutex<BTreeSet<u32>>>,
}

impl Lease {
    pub fn address(&self) -> SocketAddr {
        self.address
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.taken.lock().expect("addresses").remove(&self.index);
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

    /// The lowest free address, or None when every one is in use.
    pub fn take(&self) -> Option<Lease> {
        let mut taken = self.taken.lock().expect("addresses");
        let index = (0..self.range.count).find(|i| !taken.contains(i))?;
        let ip = u32::from(self.range.first).checked_add(index)?;
        taken.insert(index);
        Some(Lease {
            index,
            address: SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::from(ip), self.range.port)),
            taken: self.taken.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_at_once_get_different_addresses_and_give_them_back() {
        let a = Addresses::new(PagingAddresses {
            first: Ipv4Addr::new(239, 1, 1, 254),
            count: 2,
            port: 20480,
            ttl: 1,
        });
        let one = a.take().unwrap();
        let two = a.take().unwrap();
        assert_eq!(one.address().to_string(), "239.1.1.254:20480");
        assert_eq!(two.address().to_string(), "239.1.1.255:20480");
        assert!(a.take().is_none(), "both in use");
        drop(one);
        assert_eq!(a.take().unwrap().address().to_string(), "239.1.1.254:20480");
    }
}
