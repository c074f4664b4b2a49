//! A read-only TFTP server (RFC 1350) for configuration files. Each transfer runs from its own
//! socket (its transfer identifier), lock-step with retransmission. Options (RFC 2347) are
//! ignored, which the RFC allows: the client then uses 512-byte blocks.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::UdpSocket;

use crate::Provisioner;

const RRQ: u16 = 1;
const WRQ: u16 = 2;
const DATA: u16 = 3;
const ACK: u16 = 4;
const ERROR: u16 = 5;
const BLOCK: usize = 512;

#[derive(Debug, Clone, Copy)]
pub struct TftpTimers {
    /// How long to wait for an acknowledgement before sending a block again.
    pub retransmit: Duration,
    /// Sends of one block before the transfer is given up.
    pub attempts: u32,
    /// Most transfers at once; more requests are refused with an error packet.
    pub max_transfers: usize,
}

impl Default for TftpTimers {
    fn default() -> Self {
        TftpTimers {
            retransmit: Duration::from_secs(1),
            attempts: 5,
            max_transfers: 1024,
        }
    }
}

fn error_packet(code: u16, message: &str) -> Vec<u8> {
    let mut p = Vec::with_capacity(5 + message.len());
    p.extend_from_slice(&ERROR.to_be_bytes());
    p.extend_from_slice(&code.to_be_bytes());
    p.extend_from_slice(message.as_bytes());
    p.push(0);
    p
}

/// A request: opcode, file name and mode, or why it is not one.
fn parse_request(p: &[u8]) -> Result<(u16, String, String), &'static str> {
    if p.len() < 4 {
        return Err("short packet");
    }
    let op = u16::from_be_bytes([p[0], p[1]]);
    let mut fields = p[2..].split(|&b| b == 0);
    let name = fields.next().ok_or("no file name")?;
    let mode = fields.next().ok_or("no mode")?;
    if name.is_empty() || !p.ends_with(&[0]) {
        return Err("malformed request");
    }
    let name = std::str::from_utf8(name).map_err(|_| "file name is not text")?;
    let mode = std::str::from_utf8(mode).map_err(|_| "mode is not text")?;
    Ok((op, name.to_owned(), mode.to_ascii_lowercase()))
}

/// Serve requests arriving on `socket` until the task is dropped.
pub async fn serve(socket: UdpSocket, provisioner: Arc<Provisioner>, timers: TftpTimers) {
    let socket = Arc::new(socket);
    let transfers = Arc::new(tokio::sync::Semaphore::new(timers.max_transfers));
    let mut buf = vec![0u8; 1500];
    loop {
        let (n, peer) = match socket.recv_from(&mut buf).await {
            Ok(x) => x,
            Err(e) => {
                tracing::debug!(error = %e, "tftp: receive failed");
                continue;
            }
        };
        let reply = |packet: Vec<u8>| {
            let socket = socket.clone();
            async move {
                let _ = socket.send_to(&packet, peer).await;
            }
        };
        match parse_request(&buf[..n]) {
            Ok((RRQ, name, mode)) => {
                if mode != "octet" && mode != "netascii" {
                    reply(error_packet(0, "mode must be octet or netascii")).await;
                    continue;
                }
                let Some(file) = provisioner.file(&name) else {
                    reply(error_packet(1, "file not found")).await;
                    continue;
                };
                let Ok(permit) = transfers.clone().try_acquire_owned() else {
                    reply(error_packet(0, "server busy, try again")).await;
                    continue;
                };
                let local = socket.local_addr().ok();
                tokio::spawn(async move {
                    let _permit = permit;
                    if let Err(e) = send_file(local, peer, &file, timers).await {
                        tracing::debug!(%peer, file = %name, error = %e, "tftp: transfer failed");
                    }
                });
            }
            Ok((WRQ, ..)) => reply(error_packet(2, "read-only server")).await,
            Ok(_) => reply(error_packet(4, "illegal TFTP operation")).await,
            Err(why) => reply(error_packet(4, why)).await,
        }
    }
}

async fn send_file(
    local: Option<SocketAddr>,
    peer: SocketAddr,
    file: &[u8],
    timers: TftpTimers,
) -> std::io::Result<()> {
    let bind = match local {
        Some(SocketAddr::V6(_)) => SocketAddr::from(([0u16; 8], 0)),
        Some(a) => SocketAddr::new(a.ip(), 0),
        None => SocketAddr::from(([0, 0, 0, 0], 0)),
    };
    let socket = UdpSocket::bind(bind).await?;
    // A file of a whole number of blocks ends with an empty one.
    let blocks = file.len() / BLOCK + 1;
    let mut ack = [0u8; 516];
    for index in 0..blocks {
        let number = ((index + 1) % 65_536) as u16;
        let chunk = &file[index * BLOCK..((index + 1) * BLOCK).min(file.len())];
        let mut packet = Vec::with_capacity(4 + chunk.len());
        packet.extend_from_slice(&DATA.to_be_bytes());
        packet.extend_from_slice(&number.to_be_bytes());
        packet.extend_from_slice(chunk);
        let mut acknowledged = false;
        'attempts: for _ in 0..timers.attempts {
            socket.send_to(&packet, peer).await?;
            let deadline = tokio::time::Instant::now() + timers.retransmit;
            loop {
                let got = tokio::time::timeout_at(deadline, socket.recv_from(&mut ack)).await;
                let Ok(Ok((n, from))) = got else {
                    continue 'attempts;
                };
                if from != peer {
                    // Another host on our transfer identifier: tell it, keep going (RFC 1350 s4).
                    let _ = socket
                        .send_to(&error_packet(5, "unknown transfer ID"), from)
                        .await;
                    continue;
                }
                if n >= 4 && u16::from_be_bytes([ack[0], ack[1]]) == ERROR {
                    return Err(std::io::Error::other("the client gave up"));
                }
                if n >= 4
                    && u16::from_be_bytes([ack[0], ack[1]]) == ACK
                    && u16::from_be_bytes([ack[2], ack[3]]) == number
                {
                    acknowledged = true;
                    break 'attempts;
                }
                // A duplicate acknowledgement of the previous block: wait on (no resend, so no
                // Sorcerer's Apprentice).
            }
        }
        if !acknowledged {
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "no acknowledgement",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_parse_and_malformed_ones_say_why() {
        assert_eq!(
            parse_request(b"\x00\x01SEP001122334455.cnf.xml\x00octet\x00"),
            Ok((RRQ, "SEP001122334455.cnf.xml".into(), "octet".into()))
        );
        assert_eq!(
            parse_request(b"\x00\x01f\x00NETASCII\x00blksize\x001024\x00"),
            Ok((RRQ, "f".into(), "netascii".into()))
        );
        assert!(parse_request(b"\x00\x01").is_err());
        assert!(parse_request(b"\x00\x01f\x00octet").is_err());
        assert!(parse_request(b"\x00\x01\x00octet\x00").is_err());
        assert!(parse_request(b"\x00\x01\xff\x00octet\x00").is_err());
    }
}

#[cfg(test)]
mod transfer_tests {
    use super::*;
    use crate::Phones;
    use dialtone_store::live::Live;
    use dialtone_store::phones::{PhoneCatalog, PhoneDevice};
    use dialtone_web::Site;

    struct Nobody;

    impl crate::PhoneState for Nobody {
        fn address_of(&self, _: &str) -> Option<std::net::IpAddr> {
            None
        }
        fn device_at(&self, _: std::net::IpAddr) -> Option<String> {
            None
        }
        fn login_of(&self, _: &str) -> Option<(String, String)> {
            None
        }
        fn devices_of(&self, _: &str) -> Vec<String> {
            Vec::new()
        }
    }

    async fn server(retransmit: Duration) -> SocketAddr {
        let phones = Phones::new(PhoneCatalog {
            devices: vec![PhoneDevice {
                name: "SEP001122334455".into(),
                model: "Cisco 8845".into(),
                description: "x".repeat(2000),
                device_pool: "Default".into(),
                ..Default::default()
            }],
            ..Default::default()
        });
        let site = Site::default();
        let p = Arc::new(Provisioner::new(
            Live::fixed(phones),
            site,
            Arc::new(Nobody),
        ));
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        let timers = TftpTimers {
            retransmit,
            attempts: 3,
            max_transfers: 4,
        };
        tokio::spawn(serve(socket, p, timers));
        addr
    }

    async fn recv(c: &UdpSocket) -> (Vec<u8>, SocketAddr) {
        let mut buf = [0u8; 600];
        let (n, from) = tokio::time::timeout(Duration::from_secs(2), c.recv_from(&mut buf))
            .await
            .expect("an answer")
            .unwrap();
        (buf[..n].to_vec(), from)
    }

    #[tokio::test]
    async fn an_unacknowledged_block_is_sent_again_and_the_file_arrives_whole() {
        let addr = server(Duration::from_millis(50)).await;
        let c = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        c.send_to(b"\x00\x01SEP001122334455.cnf.xml\x00octet\x00", addr)
            .await
            .unwrap();
        let (first, tid) = recv(&c).await;
        assert_eq!(&first[..4], &[0, 3, 0, 1]);
        assert_ne!(tid, addr, "the transfer runs from its own port");
        // No acknowledgement: block 1 comes again.
        let (again, _) = recv(&c).await;
        assert_eq!(again, first);
        let mut file = Vec::new();
        let mut packet = first;
        loop {
            file.extend_from_slice(&packet[4..]);
            c.send_to(&[0, 4, packet[2], packet[3]], tid).await.unwrap();
            if packet.len() < 4 + BLOCK {
                break;
            }
            packet = recv(&c).await.0;
        }
        let text = String::from_utf8(file).unwrap();
        assert!(
            text.starts_with("<?xml") && text.ends_with("</device>\n"),
            "{text}"
        );
        assert!(text.len() > 2000);
    }

    #[tokio::test]
    async fn writes_junk_and_unknown_files_get_error_packets_and_service_goes_on() {
        let addr = server(Duration::from_millis(50)).await;
        let c = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        for (request, code) in [
            (&b"\x00\x02SEP001122334455.cnf.xml\x00octet\x00"[..], 2u8),
            (&b"\x00\x01nothing.cnf.xml\x00octet\x00"[..], 1),
            (&b"\x00\x01SEP001122334455.cnf.xml\x00mail\x00"[..], 0),
            (&b"\xff"[..], 4),
            (&b"\x00\x09x\x00octet\x00"[..], 4),
        ] {
            c.send_to(request, addr).await.unwrap();
            let (answer, from) = recv(&c).await;
            assert_eq!(from, addr);
            assert_eq!(&answer[..4], &[0, 5, 0, code], "{request:?}");
        }
        c.send_to(b"\x00\x01SEP001122334455.cnf.xml\x00octet\x00", addr)
            .await
            .unwrap();
        assert_eq!(&recv(&c).await.0[..4], &[0, 3, 0, 1]);
    }
}
