//! Passwords, PINs and SIP digest credentials: how they are stored and checked.
//!
//! Passwords and PINs are argon2id hashes. The cost is chosen so one verification takes about a
//! millisecond of CPU: enough to make an offline attack on a stolen database slow, cheap enough
//! for logins at hundreds per second. PINs are short, so their hash cost protects them little;
//! what protects a PIN is the lockout after repeated failures (Extension Mobility's policy).
//!
//! A credential verified once is remembered as a keyed MAC (HMAC-SHA-256 under a key that never
//! leaves the process) until the stored hash changes or the entry ages out, so repeated logins
//! and SOAP requests do not pay the hash cost each time.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use hmac::{Hmac, Mac};
use md5::Md5;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// argon2id memory cost in KiB, passes and lanes: about 1 ms of CPU per verification on the
/// machines we measured (see `bench/`).
pub const ARGON2_MEMORY_KIB: u32 = 1024;
pub const ARGON2_PASSES: u32 = 3;
pub const ARGON2_LANES: u32 = 1;

fn argon2() -> Argon2<'static> {
    let params = Params::new(ARGON2_MEMORY_KIB, ARGON2_PASSES, ARGON2_LANES, None)
        .expect("constant argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hash a password or PIN for storage (PHC string format).
pub fn hash_secret(secret: &str) -> String {
    let mut salt = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).expect("16 bytes is a valid salt");
    argon2()
        .hash_password(secret.as_bytes(), &salt)
        .expect("hashing with valid parameters cannot fail")
        .to_string()
}

/// Check a secret against a stored PHC string. A malformed stored hash never verifies.
pub fn verify_secret(secret: &str, stored: &str) -> bool {
    match PasswordHash::new(stored) {
        // The parameters come from the stored string, so hashes made with other costs still work.
        Ok(hash) => Argon2::default()
            .verify_password(secret.as_bytes(), &hash)
            .is_ok(),
        Err(_) => false,
    }
}

/// HA1 = H(user:realm:password) in lower-case hex, for MD5 and SHA-256 (RFC 7616).
pub fn digest_ha1(user: &str, realm: &str, password: &str) -> (String, String) {
    let input = format!("{user}:{realm}:{password}");
    let md5 = hex::encode(Md5::digest(input.as_bytes()));
    let sha256 = hex::encode(Sha256::digest(input.as_bytes()));
    (md5, sha256)
}

/// A random token for bearer authentication, and the form it is stored in.
pub fn new_token() -> (String, String) {
    let mut raw = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut raw);
    let token = hex::encode(raw);
    let stored = token_digest(&token);
    (token, stored)
}

pub fn token_digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A password an administrator can type: 16 characters from an unambiguous alphabet.
pub fn random_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::thread_rng();
    (0..16)
        .map(|_| ALPHABET[(rng.next_u32() as usize) % ALPHABET.len()] as char)
        .collect()
}

/// A PIN of `len` digits.
pub fn random_pin(len: usize) -> String {
    let mut rng = rand::thread_rng();
    (0..len)
        .map(|_| char::from(b'0' + (rng.next_u32() % 10) as u8))
        .collect()
}

struct Remembered {
    mac: [u8; 32],
    stored: String,
    at: Instant,
}

/// Verified credentials, remembered as keyed MACs.
pub struct CredentialCache {
    key: [u8; 32],
    ttl: Duration,
    capacity: usize,
    entries: Mutex<HashMap<String, Remembered>>,
}

impl CredentialCache {
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        let mut key = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut key);
        CredentialCache {
            key,
            ttl,
            capacity: capacity.max(1),
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn mac(&self, who: &str, secret: &str) -> [u8; 32] {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("any key length works");
        mac.update(who.as_bytes());
        mac.update(&[0]);
        mac.update(secret.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// Verify `secret` for `who` (a namespaced user key such as `app:admin`) against the
    /// stored hash, paying the argon2 cost only when this pair was not verified recently.
    pub fn verify(&self, who: &str, secret: &str, stored: &str) -> bool {
        let mac = self.mac(who, secret);
        {
            let entries = self.entries.lock().expect("credential cache lock");
            if let Some(e) = entries.get(who) {
                if e.stored == stored && e.at.elapsed() < self.ttl && bool::from(e.mac.ct_eq(&mac))
                {
                    return true;
                }
            }
        }
        if !verify_secret(secret, stored) {
            return false;
        }
        let mut entries = self.entries.lock().expect("credential cache lock");
        if entries.len() >= self.capacity {
            entries.retain(|_, e| e.at.elapsed() < self.ttl);
            if entries.len() >= self.capacity {
                entries.clear();
            }
        }
        entries.insert(
            who.to_string(),
            Remembered {
                mac,
                stored: stored.to_string(),
                at: Instant::now(),
            },
        );
        true
    }

    /// Forget `who` (password changed, session ended).
    pub fn forget(&self, who: &str) {
        self.entries
            .lock()
            .expect("credential cache lock")
            .remove(who);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_verifies_only_the_right_secret() {
        let h = hash_secret("correct horse");
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_secret("correct horse", &h));
        assert!(!verify_secret("correct hors", &h));
        assert!(!verify_secret("correct horse", "not a hash"));
    }

    #[test]
    fn ha1_matches_rfc_2617_example() {
        // RFC 2617 section 3.5: Mufasa / testrealm@host.com / Circle Of Life
        let (md5, sha) = digest_ha1("Mufasa", "testrealm@host.com", "Circle Of Life");
        assert_eq!(md5, "939e7578ed9e3c518a452acee763bce9");
        assert_eq!(sha.len(), 64);
    }

    #[test]
    fn cache_remembers_until_the_stored_hash_changes() {
        let cache = CredentialCache::new(Duration::from_secs(60), 10);
        let h1 = hash_secret("pw1");
        assert!(cache.verify("u", "pw1", &h1));
        assert!(
            !cache.verify("u", "pw2", &h1),
            "a different secret is checked in full"
        );
        assert!(cache.verify("u", "pw1", &h1));
        let h2 = hash_secret("pw2");
        assert!(
            !cache.verify("u", "pw1", &h2),
            "the old password stops working at once"
        );
        assert!(cache.verify("u", "pw2", &h2));
    }

    #[test]
    fn cache_entries_expire() {
        let cache = CredentialCache::new(Duration::from_millis(0), 10);
        let h = hash_secret("pw");
        assert!(cache.verify("u", "pw", &h));
        let h_other = hash_secret("other");
        // With a zero TTL nothing is trusted from memory: a wrong stored hash fails.
        assert!(!cache.verify("u", "pw", &h_other));
    }
}
