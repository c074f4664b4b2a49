//! Digest authentication (RFC 7616, RFC 8760): MD5 and SHA-256, qop=auth, credentials stored
//! as HA1 only. Server side: stateless signed nonces with an expiry, nonce-count replay
//! protection, constant-time comparison, `stale=true` for expired nonces. Client side (Dialtone
//! toward a trunk that challenges it): answering a challenge from a stored HA1.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use hmac::{Hmac, Mac};
use md5::Md5;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Md5,
    Sha256,
}

impl Algorithm {
    pub fn token(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Sha256 => "SHA-256",
        }
    }

    fn parse(s: &str) -> Option<Algorithm> {
        if s.eq_ignore_ascii_case("MD5") {
            Some(Algorithm::Md5)
        } else if s.eq_ignore_ascii_case("SHA-256") {
            Some(Algorithm::Sha256)
        } else {
            None
        }
    }

    fn hash(self, input: &str) -> String {
        match self {
            Algorithm::Md5 => hex::encode(Md5::digest(input.as_bytes())),
            Algorithm::Sha256 => hex::encode(Sha256::digest(input.as_bytes())),
        }
    }
    /// HA1 = H(user:realm:password): what a client answers challenges from.
    pub fn ha1(self, user: &str, realm: &str, password: &str) -> String {
        self.hash(&format!("{user}:{realm}:{password}"))
    }
}

/// The stored secrets of one digest user: HA1 = H(user:realm:password) per algorithm.
#[derive(Debug, Clone)]
pub struct StoredCredentials {
    pub ha1_md5: Option<String>,
    pub ha1_sha256: Option<String>,
}

/// Parameters of an `Authorization` / `Proxy-Authorization: Digest ...` header.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credentials<'a> {
    pub username: &'a str,
    pub realm: &'a str,
    pub nonce: &'a str,
    pub uri: &'a str,
    pub response: &'a str,
    pub algorithm: Option<&'a str>,
    pub cnonce: Option<&'a str>,
    pub qop: Option<&'a str>,
    pub nc: Option<&'a str>,
    pub opaque: Option<&'a str>,
}

impl<'a> Credentials<'a> {
    pub fn parse(value: &'a str) -> Option<Credentials<'a>> {
        let mut c = Credentials::default();
        for (k, v) in digest_params(value)? {
            match k.as_str() {
                "username" => c.username = v,
                "realm" => c.realm = v,
                "nonce" => c.nonce = v,
                "uri" => c.uri = v,
                "response" => c.response = v,
                "algorithm" => c.algorithm = Some(v),
                "cnonce" => c.cnonce = Some(v),
                "qop" => c.qop = Some(v),
                "nc" => c.nc = Some(v),
                "opaque" => c.opaque = Some(v),
                _ => {}
            }
        }
        (!c.username.is_empty() && !c.nonce.is_empty() && !c.response.is_empty()).then_some(c)
    }
}

/// The `key=value` parameters after `Digest` in a challenge or credentials header.
fn digest_params(value: &str) -> Option<impl Iterator<Item = (String, &str)>> {
    let value = value.trim();
    let (scheme, rest) = value.split_once(|c: char| c.is_ascii_whitespace())?;
    if !scheme.eq_ignore_ascii_case("Digest") {
        return None;
    }
    Some(crate::message::split_top_level(rest).filter_map(|part| {
        let (k, v) = part.split_once('=')?;
        let v = v.trim();
        let v = v
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(v);
        Some((k.trim().to_ascii_lowercase(), v))
    }))
}

/// A `WWW-Authenticate` / `Proxy-Authenticate: Digest ...` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge<'a> {
    pub realm: &'a str,
    pub nonce: &'a str,
    pub algorithm: Algorithm,
    /// Whether the challenge offers qop=auth (answered with nc and cnonce).
    pub qop_auth: bool,
    pub opaque: Option<&'a str>,
}

impl<'a> Challenge<'a> {
    /// None for anything but a Digest challenge with a known algorithm.
    pub fn parse(value: &'a str) -> Option<Challenge<'a>> {
        let mut c = Challenge {
            realm: "",
            nonce: "",
            algorithm: Algorithm::Md5,
            qop_auth: false,
            opaque: None,
        };
        for (k, v) in digest_params(value)? {
            match k.as_str() {
                "realm" => c.realm = v,
                "nonce" => c.nonce = v,
                "algorithm" => c.algorithm = Algorithm::parse(v)?,
                "qop" => c.qop_auth = v.split(',').any(|q| q.trim().eq_ignore_ascii_case("auth")),
                "opaque" => c.opaque = Some(v),
                _ => {}
            }
        }
        (!c.nonce.is_empty()).then_some(c)
    }

    /// The credentials answering this challenge for `method` on `uri`, from the user's HA1
    /// for this realm and algorithm.
    pub fn answer(&self, method: &str, uri: &str, username: &str, ha1: &str) -> String {
        let a = self.algorithm;
        let ha2 = a.hash(&format!("{method}:{uri}"));
        let mut out = format!(
            "Digest username=\"{username}\", realm=\"{}\", nonce=\"{}\", uri=\"{uri}\", algorithm={}",
            self.realm,
            self.nonce,
            a.token()
        );
        let response = if self.qop_auth {
            let mut raw = [0u8; 8];
            rand::thread_rng().fill_bytes(&mut raw);
            let cnonce = hex::encode(raw);
            let nc = "00000001";
            out.push_str(&format!(", qop=auth, nc={nc}, cnonce=\"{cnonce}\""));
            a.hash(&format!("{ha1}:{}:{nc}:{cnonce}:auth:{ha2}", self.nonce))
        } else {
            a.hash(&format!("{ha1}:{}:{ha2}", self.nonce))
        };
        out.push_str(&format!(", response=\"{response}\""));
        if let Some(o) = self.opaque {
            out.push_str(&format!(", opaque=\"{o}\""));
        }
        out
    }
}

/// The result of checking credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The credentials are right.
    Valid,
    /// Right password, but the nonce expired: challenge again with `stale=true`.
    Stale,
    /// Wrong, replayed, malformed or for another realm.
    Invalid(&'static str),
}

/// Who challenges: a registrar (401, WWW-Authenticate) or a proxy (407, Proxy-Authenticate).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Challenger {
    Registrar,
    Proxy,
}

/// Issues and checks nonces. Nonces are signed (HMAC-SHA-256 under a key of this process) and
/// carry their time, so no state is kept per challenge; the nonce counts used are remembered
/// (bounded) to refuse replays.
pub struct Authenticator {
    realm: String,
    /// Algorithms offered, in order of preference. Some clients (sipp, older phones) read only
    /// the first challenge, so deployments with MD5-only phones put MD5 first.
    offer: Vec<Algorithm>,
    key: [u8; 32],
    nonce_lifetime: Duration,
    counts: Mutex<NonceCounts>,
    max_tracked: usize,
}

/// The last nonce count seen per nonce (replay protection), bounded: the oldest entries go
/// first, and a nonce issued no later than the newest evicted one is then answered stale (the
/// phone retries with a fresh nonce at once), so eviction never reopens a replay.
#[derive(Default)]
struct NonceCounts {
    counts: HashMap<String, (u32, u64)>,
    /// (issued, nonce) in first-use order.
    order: std::collections::VecDeque<(u64, String)>,
    floor: u64,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Authenticator {
    pub fn new(realm: &str, nonce_lifetime: Duration) -> Authenticator {
        let mut key = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut key);
        Authenticator {
            realm: realm.to_string(),
            offer: vec![Algorithm::Sha256, Algorithm::Md5],
            key,
            nonce_lifetime,
            counts: Mutex::new(NonceCounts::default()),
            max_tracked: 200_000,
        }
    }

    /// Offer these algorithms, in this order (RFC 8760's default is SHA-256, then MD5).
    pub fn offering(mut self, algorithms: &[Algorithm]) -> Self {
        if !algorithms.is_empty() {
            self.offer = algorithms.to_vec();
        }
        self
    }

    pub fn realm(&self) -> &str {
        &self.realm
    }

    fn sign(&self, data: &[u8]) -> [u8; 32] {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("any key length");
        mac.update(data);
        mac.finalize().into_bytes().into()
    }

    pub fn new_nonce(&self) -> String {
        let mut raw = [0u8; 32];
        raw[..8].copy_from_slice(&now_ms().to_be_bytes());
        rand::thread_rng().fill_bytes(&mut raw[8..16]);
        let sig = self.sign(&raw[..16]);
        raw[16..].copy_from_slice(&sig[..16]);
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
    }

    /// The nonce's issue time if we signed it.
    fn nonce_time(&self, nonce: &str) -> Option<u64> {
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(nonce)
            .ok()?;
        if raw.len() != 32 {
            return None;
        }
        let sig = self.sign(&raw[..16]);
        if !bool::from(sig[..16].ct_eq(&raw[16..])) {
            return None;
        }
        Some(u64::from_be_bytes(raw[..8].try_into().ok()?))
    }

    /// `WWW-Authenticate` values, one per offered algorithm, in order of preference.
    pub fn challenges(&self, stale: bool) -> Vec<String> {
        let nonce = self.new_nonce();
        self.offer
            .iter()
            .map(|a| {
                format!(
                    "Digest realm=\"{}\", nonce=\"{nonce}\", algorithm={}, qop=\"auth\"{}",
                    self.realm,
                    a.token(),
                    if stale { ", stale=true" } else { "" }
                )
            })
            .collect()
    }

    /// The challenge answering `request`: 401 with WWW-Authenticate for a registrar, 407 with
    /// Proxy-Authenticate for a proxy or B2BUA (RFC 3261 22), one header per algorithm.
    pub fn challenge(
        &self,
        request: &crate::Message,
        source: std::net::SocketAddr,
        kind: Challenger,
        stale: bool,
    ) -> bytes::Bytes {
        let (code, header) = match kind {
            Challenger::Registrar => (401, "WWW-Authenticate"),
            Challenger::Proxy => (407, "Proxy-Authenticate"),
        };
        let mut b =
            crate::build::response(request, code, Some(source), Some(&crate::build::token()));
        for c in self.challenges(stale) {
            b = b.header(header, &c);
        }
        b.finish()
    }

    /// Whether `nonce` is one this authenticator issued (whatever its age): an answer to it is
    /// a real attempt at the password, where an answer to a made-up nonce could never succeed.
    pub fn issued(&self, nonce: &str) -> bool {
        self.nonce_time(nonce).is_some()
    }

    /// Check credentials for a request `method` against the user's stored HA1s.
    pub fn verify(&self, method: &str, c: &Credentials, stored: &StoredCredentials) -> Verdict {
        if c.realm != self.realm {
            return Verdict::Invalid("wrong realm");
        }
        let algorithm = match c.algorithm {
            None => Algorithm::Md5,
            Some(a) => match Algorithm::parse(a) {
                Some(a) => a,
                None => return Verdict::Invalid("unsupported algorithm"),
            },
        };
        let ha1 = match algorithm {
            Algorithm::Md5 => stored.ha1_md5.as_deref(),
            Algorithm::Sha256 => stored.ha1_sha256.as_deref(),
        };
        let Some(ha1) = ha1 else {
            return Verdict::Invalid("no credentials for this algorithm");
        };
        let (Some(qop), Some(nc), Some(cnonce)) = (c.qop, c.nc, c.cnonce) else {
            return Verdict::Invalid("qop=auth is required");
        };
        if !qop.eq_ignore_ascii_case("auth") {
            return Verdict::Invalid("only qop=auth is supported");
        }
        let Ok(count) = u32::from_str_radix(nc, 16) else {
            return Verdict::Invalid("bad nonce count");
        };
        let Some(issued) = self.nonce_time(c.nonce) else {
            return Verdict::Invalid("not our nonce");
        };
        let ha2 = algorithm.hash(&format!("{method}:{}", c.uri));
        let expected = algorithm.hash(&format!("{ha1}:{}:{nc}:{cnonce}:{qop}:{ha2}", c.nonce));
        if !bool::from(
            expected
                .as_bytes()
                .ct_eq(c.response.to_ascii_lowercase().as_bytes()),
        ) {
            return Verdict::Invalid("wrong response");
        }
        // Right password. An old nonce is stale (the client retries without asking the user).
        let now = now_ms();
        if now.saturating_sub(issued) > self.nonce_lifetime.as_millis() as u64 {
            return Verdict::Stale;
        }
        let mut t = self.counts.lock().expect("nonce counts lock");
        let lifetime = self.nonce_lifetime.as_millis() as u64;
        // Expired entries leave from the front; past the bound, the oldest go regardless.
        while let Some((at, _)) = t.order.front() {
            let expired = now.saturating_sub(*at) > lifetime;
            if !expired && t.order.len() < self.max_tracked {
                break;
            }
            let (at, nonce) = t.order.pop_front().expect("front exists");
            t.counts.remove(&nonce);
            if !expired {
                t.floor = t.floor.max(at);
            }
        }
        let floor = t.floor;
        match t.counts.get_mut(c.nonce) {
            Some((last, _)) if count <= *last => Verdict::Invalid("replayed nonce count"),
            Some((last, _)) => {
                *last = count;
                Verdict::Valid
            }
            None if issued <= floor => Verdict::Stale,
            None => {
                t.counts.insert(c.nonce.to_string(), (count, issued));
                t.order.push_back((issued, c.nonce.to_string()));
                Verdict::Valid
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(user: &str, realm: &str, pw: &str) -> StoredCredentials {
        let md5 = Algorithm::Md5.hash(&format!("{user}:{realm}:{pw}"));
        let sha = Algorithm::Sha256.hash(&format!("{user}:{realm}:{pw}"));
        StoredCredentials {
            ha1_md5: Some(md5),
            ha1_sha256: Some(sha),
        }
    }

    fn answer(a: Algorithm, ha1: &str, nonce: &str, nc: &str, method: &str, uri: &str) -> String {
        let ha2 = a.hash(&format!("{method}:{uri}"));
        a.hash(&format!("{ha1}:{nonce}:{nc}:abc:auth:{ha2}"))
    }

    fn creds<'a>(nonce: &'a str, response: &'a str, alg: &'a str, nc: &'a str) -> Credentials<'a> {
        Credentials {
            username: "alice",
            realm: "dialtone",
            nonce,
            uri: "sip:dialtone",
            response,
            algorithm: Some(alg),
            cnonce: Some("abc"),
            qop: Some("auth"),
            nc: Some(nc),
            opaque: None,
        }
    }

    #[test]
    fn md5_and_sha256_verify_and_replays_fail() {
        let auth = Authenticator::new("dialtone", Duration::from_secs(60));
        let s = stored("alice", "dialtone", "secret");
        for (alg, ha1) in [
            (Algorithm::Md5, s.ha1_md5.clone().unwrap()),
            (Algorithm::Sha256, s.ha1_sha256.clone().unwrap()),
        ] {
            let nonce = auth.new_nonce();
            let r1 = answer(alg, &ha1, &nonce, "00000001", "REGISTER", "sip:dialtone");
            assert_eq!(
                auth.verify("REGISTER", &creds(&nonce, &r1, alg.token(), "00000001"), &s),
                Verdict::Valid
            );
            assert_eq!(
                auth.verify("REGISTER", &creds(&nonce, &r1, alg.token(), "00000001"), &s),
                Verdict::Invalid("replayed nonce count")
            );
            let r2 = answer(alg, &ha1, &nonce, "00000002", "REGISTER", "sip:dialtone");
            assert_eq!(
                auth.verify("REGISTER", &creds(&nonce, &r2, alg.token(), "00000002"), &s),
                Verdict::Valid
            );
            let wrong = answer(alg, &ha1, &nonce, "00000003", "INVITE", "sip:dialtone");
            assert_eq!(
                auth.verify(
                    "REGISTER",
                    &creds(&nonce, &wrong, alg.token(), "00000003"),
                    &s
                ),
                Verdict::Invalid("wrong response")
            );
        }
    }

    /// The client side answers a challenge so that the server side accepts it.
    #[test]
    fn answers_to_challenges_verify() {
        let s = stored("dialtone", "carrier", "trunk-secret");
        for alg in [Algorithm::Md5, Algorithm::Sha256] {
            let auth = Authenticator::new("carrier", Duration::from_secs(60)).offering(&[alg]);
            let header = auth.challenges(false).remove(0);
            let ch = Challenge::parse(&header).unwrap();
            assert_eq!(ch.algorithm, alg);
            assert!(ch.qop_auth);
            let ha1 = match ch.algorithm {
                Algorithm::Md5 => s.ha1_md5.clone().unwrap(),
                Algorithm::Sha256 => s.ha1_sha256.clone().unwrap(),
            };
            let value = ch.answer("INVITE", "sip:8123@192.0.2.1", "dialtone", &ha1);
            let creds = Credentials::parse(&value).unwrap();
            assert_eq!(auth.verify("INVITE", &creds, &s), Verdict::Valid, "{value}");
            let wrong = ch.answer("INVITE", "sip:8123@192.0.2.1", "dialtone", "00");
            let creds = Credentials::parse(&wrong).unwrap();
            assert_ne!(auth.verify("INVITE", &creds, &s), Verdict::Valid);
        }
        assert!(Challenge::parse("Basic realm=\"x\"").is_none());
        assert!(Challenge::parse("Digest realm=\"x\", nonce=\"n\", algorithm=MD5-sess").is_none());
    }

    /// Replay tracking stays bounded and cheap: past the bound the oldest nonces are dropped,
    /// and a dropped nonce is answered stale rather than accepted again.
    #[test]
    fn nonce_tracking_is_bounded_without_reopening_replays() {
        let mut auth = Authenticator::new("dialtone", Duration::from_secs(60));
        auth.max_tracked = 3;
        let s = stored("alice", "dialtone", "secret");
        let ha1 = s.ha1_md5.clone().unwrap();
        let mut nonces = Vec::new();
        for _ in 0..5 {
            let nonce = auth.new_nonce();
            std::thread::sleep(Duration::from_millis(2));
            let r = answer(
                Algorithm::Md5,
                &ha1,
                &nonce,
                "00000001",
                "REGISTER",
                "sip:dialtone",
            );
            assert_eq!(
                auth.verify("REGISTER", &creds(&nonce, &r, "MD5", "00000001"), &s),
                Verdict::Valid
            );
            nonces.push((nonce, r));
        }
        assert!(auth.counts.lock().unwrap().counts.len() <= 3);
        let (old, r) = &nonces[0];
        assert_eq!(
            auth.verify("REGISTER", &creds(old, r, "MD5", "00000001"), &s),
            Verdict::Stale,
            "an evicted nonce must not verify again"
        );
        let (recent, r) = &nonces[4];
        assert_eq!(
            auth.verify("REGISTER", &creds(recent, r, "MD5", "00000001"), &s),
            Verdict::Invalid("replayed nonce count")
        );
    }

    #[test]
    fn forged_and_expired_nonces() {
        let auth = Authenticator::new("dialtone", Duration::from_millis(0));
        let s = stored("alice", "dialtone", "secret");
        let ha1 = s.ha1_md5.clone().unwrap();
        let nonce = auth.new_nonce();
        std::thread::sleep(Duration::from_millis(5));
        let r = answer(
            Algorithm::Md5,
            &ha1,
            &nonce,
            "00000001",
            "REGISTER",
            "sip:dialtone",
        );
        assert_eq!(
            auth.verify("REGISTER", &creds(&nonce, &r, "MD5", "00000001"), &s),
            Verdict::Stale
        );
        let other = Authenticator::new("dialtone", Duration::from_secs(60));
        assert_eq!(
            other.verify("REGISTER", &creds(&nonce, &r, "MD5", "00000001"), &s),
            Verdict::Invalid("not our nonce")
        );
    }

    #[test]
    fn parses_authorization_headers() {
        let v = r#"Digest username="alice", realm="dialtone", nonce="abc", uri="sip:x", response="0123", algorithm=SHA-256, cnonce="c, d", qop=auth, nc=00000001"#;
        let c = Credentials::parse(v).unwrap();
        assert_eq!(
            (c.username, c.algorithm, c.cnonce),
            ("alice", Some("SHA-256"), Some("c, d"))
        );
        assert!(Credentials::parse("Basic YWxhZGRpbjpvcGVuc2VzYW1l").is_none());
        let challenges = Authenticator::new("dialtone", Duration::from_secs(1)).challenges(true);
        assert!(
            challenges[0].contains("algorithm=SHA-256") && challenges[0].contains("stale=true")
        );
    }
}
