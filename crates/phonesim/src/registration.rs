//! Registering the phone's lines as Cisco phones do (each line its own REGISTER, digest
//! answered, refreshed at half the expiry) and the requests it sends with authentication.

use super::*;

impl Phone {
    pub(crate) async fn register_all(&self, expires: u32) -> Result<()> {
        let aors: Vec<String> = if self.inner.spec.device_level {
            vec![self.inner.spec.device.clone()]
        } else {
            self.inner
                .config
                .lock()
                .unwrap()
                .lines
                .iter()
                .map(|(_, n, _)| n.clone())
                .collect()
        };
        let mut first_error = None;
        for aor in aors {
            if let Err(e) = self.register_one(&aor, expires).await {
                first_error.get_or_insert(e);
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    pub(crate) fn server(&self) -> Result<Peer> {
        self.inner
            .server
            .lock()
            .unwrap()
            .ok_or_else(|| anyhow!("no call manager yet"))
    }

    pub(crate) fn local(&self) -> SocketAddr {
        self.inner
            .endpoint
            .local_addr(self.inner.spec.transport)
            .expect("bound transport")
    }

    pub(crate) fn contact(&self, user: &str) -> String {
        let spec = &self.inner.spec;
        let transport = if spec.transport == Transport::Tcp {
            ";transport=tcp"
        } else {
            ""
        };
        format!(
            "<sip:{user}@{}{transport}>;+sip.instance=\"<urn:uuid:00000000-0000-0000-0000-{}>\";+u.sip!devicename.ccm.cisco.com=\"{}\";+u.sip!model.ccm.cisco.com=\"{}\"",
            self.local(),
            spec.mac(),
            spec.device,
            spec.model
        )
    }

    pub(crate) fn user_agent(&self) -> String {
        format!(
            "Cisco-{}/14.2.1 (phonesim)",
            self.inner.spec.model.replace('-', "")
        )
    }

    pub(crate) fn auth_name(&self) -> String {
        let cfg = self.inner.config.lock().unwrap();
        cfg.lines
            .first()
            .map(|(_, _, a)| a.clone())
            .filter(|a| !a.is_empty())
            .unwrap_or_else(|| self.inner.spec.device.clone())
    }

    /// Send a request built by `make` and answer one digest challenge: the request that got
    /// the final response, and that response. `make(n, auth)`: the CSeq offset and the
    /// credentials header.
    pub(crate) async fn request_with_auth(
        &self,
        method: &str,
        uri: &str,
        make: impl Fn(u32, Option<(&'static str, String)>) -> Bytes,
    ) -> Result<(Bytes, Arc<Message>)> {
        let server = self.server()?;
        let first = make(0, None);
        let resp = self.final_response(first.clone(), server).await?;
        let status = resp.status().unwrap_or(0);
        if status != 401 && status != 407 {
            return Ok((first, resp));
        }
        let header = if status == 401 {
            Name::WwwAuthenticate
        } else {
            Name::ProxyAuthenticate
        };
        let challenge = resp
            .value(header)
            .and_then(Challenge::parse)
            .ok_or_else(|| anyhow!("a {status} without a digest challenge"))?;
        let user = self.auth_name();
        let ha1 = challenge
            .algorithm
            .ha1(&user, challenge.realm, &self.inner.spec.password);
        let credentials = challenge.answer(method, uri, &user, &ha1);
        let name = if status == 401 {
            "Authorization"
        } else {
            "Proxy-Authorization"
        };
        let second = make(1, Some((name, credentials)));
        let resp = self.final_response(second.clone(), server).await?;
        Ok((second, resp))
    }

    pub(crate) async fn final_response(&self, req: Bytes, to: Peer) -> Result<Arc<Message>> {
        let mut tx = self.inner.endpoint.send_request(req, to).await?;
        while let Some(r) = tx.responses.recv().await {
            if r.status().unwrap_or(0) >= 200 {
                return Ok(r);
            }
        }
        bail!("no final response (timeout)")
    }

    pub(crate) async fn register_one(&self, aor: &str, expires: u32) -> Result<()> {
        let (call_id, cseq) = {
            let mut regs = self.inner.registrations.lock().unwrap();
            let r = match regs.iter_mut().position(|r| r.aor == aor) {
                Some(i) => &mut regs[i],
                None => {
                    regs.push(LineRegistration {
                        aor: aor.to_owned(),
                        call_id: format!("{}-{}", build::token(), self.inner.spec.mac()),
                        cseq: 100,
                    });
                    regs.last_mut().expect("pushed")
                }
            };
            r.cseq += 2;
            (r.call_id.clone(), r.cseq)
        };
        let host = self.inner.server_host.lock().unwrap().clone();
        let server = self.server()?;
        let uri = format!("sip:{}", server.addr);
        let aor_uri = format!("sip:{aor}@{host}");
        let tag = build::token();
        let via_t = self.inner.spec.transport;
        let make = |extra: u32, auth: Option<(&'static str, String)>| {
            let mut b = build::request("REGISTER", &uri)
                .header("Via", &self.inner.endpoint.via(via_t))
                .header("Max-Forwards", "70")
                .header("From", &format!("<{aor_uri}>;tag={tag}"))
                .header("To", &format!("<{aor_uri}>"))
                .header("Call-ID", &call_id)
                .header("CSeq", &format!("{} REGISTER", cseq + extra))
                .header("Contact", &self.contact(aor))
                .header("Expires", &expires.to_string())
                .header("User-Agent", &self.user_agent());
            if let Some((name, value)) = auth {
                b = b.header(name, &value);
            }
            b.finish()
        };
        let (_, resp) = self.request_with_auth("REGISTER", &uri, make).await?;
        let status = resp.status().unwrap_or(0);
        if (200..300).contains(&status) {
            if expires > 0 {
                self.emit(PhoneEvent::Registered {
                    aor: aor.to_owned(),
                });
            }
            Ok(())
        } else {
            self.emit(PhoneEvent::RegisterFailed {
                aor: aor.to_owned(),
                status,
            });
            bail!("REGISTER {aor}: {status}")
        }
    }

    pub(crate) async fn keep_registered(self) {
        let every = Duration::from_secs((self.inner.spec.register_expires as u64 / 2).max(1));
        loop {
            tokio::time::sleep(every).await;
            if let Err(e) = self.register_all(self.inner.spec.register_expires).await {
                tracing::warn!(device = %self.inner.spec.device, error = %e, "re-registration failed");
            }
        }
    }

    /// The Call-IDs of this phone's REGISTERs (what a reset NOTIFY must name).
    pub fn register_call_ids(&self) -> Vec<String> {
        self.inner
            .registrations
            .lock()
            .unwrap()
            .iter()
            .map(|r| r.call_id.clone())
            .collect()
    }
}
