//! The digest check as both the registrar (401) and call admission (407) run it, behind the
//! password-guessing guard: a blocked source is refused (403) or, when it floods, not
//! answered at all; a failure is counted and its challenge delayed as the guard says; a
//! success makes the source one of the user's known addresses. One place, so REGISTER and
//! INVITE cannot drift apart (and an enumerator sees the same answer for every name).

use dialtone_sip::digest::{Authenticator, Challenger, Credentials, StoredCredentials, Verdict};
use dialtone_sip::endpoint::ServerTransaction;
use dialtone_sip::guard::{Admission, Guard};

/// What `Authenticator::verify` says of a response that does not match: the one failure that
/// is a guess at the password.
const WRONG: &str = "wrong response";

/// The credentials' owner, if they are right; otherwise the request has been answered.
pub(crate) struct Digest<'a> {
    pub auth: &'a Authenticator,
    pub guard: &'a Guard,
    pub kind: Challenger,
}

impl Digest<'_> {
    /// Challenge a request that carried no credentials (or none worth checking).
    pub async fn challenge(&self, tx: &ServerTransaction, stale: bool) {
        let r = self
            .auth
            .challenge(&tx.request, tx.peer.addr, self.kind, stale);
        tx.respond(r).await;
    }

    /// Whether the request may have its credentials checked; if not it has been refused
    /// (403) or abandoned (silence for a flooding source).
    pub async fn admitted(&self, tx: &ServerTransaction, creds: &Credentials<'_>) -> bool {
        match self.guard.admit(tx.peer.addr.ip(), creds.username) {
            Admission::Check => true,
            Admission::Refuse => {
                tx.reply(403, Some(&dialtone_sip::build::token())).await;
                false
            }
            Admission::Silence => {
                tx.clone().abandon().await;
                false
            }
        }
    }

    /// Check `creds` against `stored` (None: no such user, checked all the same). True when
    /// right; otherwise the request has been challenged again (after the guard's delay).
    pub async fn verify(
        &self,
        tx: &ServerTransaction,
        method: &str,
        creds: &Credentials<'_>,
        stored: Option<&StoredCredentials>,
    ) -> bool {
        let verdict = match stored {
            Some(stored) => self.auth.verify(method, creds, stored),
            None => Verdict::Invalid(WRONG),
        };
        match verdict {
            Verdict::Valid => {
                self.guard.succeeded(tx.peer.addr.ip(), creds.username);
                true
            }
            Verdict::Stale => {
                self.challenge(tx, true).await;
                false
            }
            Verdict::Invalid(WRONG) => {
                self.refused(tx, creds, "wrong password or no such user")
                    .await;
                false
            }
            Verdict::Invalid(why) => {
                // Not a guess at the password (a replayed count, another realm, a nonce of a
                // node that restarted): challenged again, and not counted, so a busy site
                // behind one address is never blocked for what its phones did right.
                tracing::info!(user = creds.username, why, "digest answer not usable");
                self.challenge(tx, false).await;
                false
            }
        }
    }

    /// Credentials that do not hold (a wrong password, no such user, another device's): a
    /// guess, counted when it answers a nonce of ours (one answering a made-up nonce could
    /// never have succeeded), then challenged.
    pub async fn refused(&self, tx: &ServerTransaction, creds: &Credentials<'_>, why: &str) {
        if !self.auth.issued(creds.nonce) {
            tracing::info!(
                user = creds.username,
                why,
                "digest answer to a nonce not ours"
            );
            return self.challenge(tx, false).await;
        }
        let user = creds.username;
        let source = tx.peer.addr.ip();
        let failure = self.guard.failed(source, user);
        tracing::info!(user, %source, why, "digest check failed");
        if failure.source_blocked {
            tracing::warn!(%source, "SIP source blocked: digest guessing");
        }
        if failure.user_locked {
            tracing::warn!(user, "SIP user locked for unknown sources: digest guessing");
        }
        if !failure.delay.is_zero() {
            tokio::time::sleep(failure.delay).await;
        }
        self.challenge(tx, false).await;
    }
}
