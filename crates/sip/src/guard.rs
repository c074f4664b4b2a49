//! The defence against digest password guessing (what Kamailio users get from pike and
//! fail2ban), kept in the node: failed digest checks are counted per source address and per
//! user name. A source's answers slow down after a few failures (the delay doubling with each
//! one) and the source is then refused for a while: 403, or silence once it floods. A user
//! name guessed at from many sources is locked too, but only for sources that never
//! authenticated as it, so the legitimate phone at its usual address is never locked out by
//! an attacker elsewhere. Every name is treated alike, whether it exists or not, so the guard
//! tells an enumerator nothing. The tables are bounded (old entries go first) and sharded, so a
//! check locks one shard, never the whole table.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::shards::Sharded;
use std::time::{Duration, Instant, SystemTime};

/// The guard's tunables.
#[derive(Debug, Clone)]
pub struct GuardConfig {
    /// Failures from one source answered at once; each further one is answered later.
    pub free_failures: u32,
    /// The first delay; it doubles with each further failure, up to `max_delay`.
    pub delay: Duration,
    pub max_delay: Duration,
    /// Failures from one source (within `window`) that block it.
    pub source_block_after: u32,
    /// Failures for one user name (within `window`), from sources that never authenticated
    /// as it, that lock the name for such sources.
    pub user_block_after: u32,
    /// Failures older than this are forgotten.
    pub window: Duration,
    /// How long a block lasts.
    pub block_for: Duration,
    /// A blocked source sending more requests than this in a second gets no answer at all.
    pub flood_per_second: u32,
    /// Sources and user names tracked at most (each table).
    pub max_entries: usize,
}

impl Default for GuardConfig {
    fn default() -> Self {
        GuardConfig {
            free_failures: 3,
            delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(4),
            source_block_after: 10,
            user_block_after: 20,
            window: Duration::from_secs(600),
            block_for: Duration::from_secs(900),
            flood_per_second: 20,
            max_entries: 100_000,
        }
    }
}

/// What to do with a request carrying credentials, before they are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Check the credentials.
    Check,
    /// Refuse without checking: 403 Forbidden.
    Refuse,
    /// Send nothing: the source floods while blocked.
    Silence,
}

/// A failed check's consequences: how long to wait before answering, and whether this
/// failure began a block (for the log).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failure {
    pub delay: Duration,
    pub source_blocked: bool,
    pub user_locked: bool,
}

/// What is blocked, for the administration API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Blocked {
    Source {
        address: IpAddr,
        failures: u32,
        /// Unix time (seconds) the block ends.
        until: u64,
    },
    User {
        user: String,
        failures: u32,
        until: u64,
    },
}

#[derive(Debug)]
struct Count {
    failures: u32,
    first: Instant,
    blocked_until: Option<Instant>,
    /// Requests in the current second while blocked (flood detection).
    second: (Instant, u32),
}

impl Count {
    fn new(now: Instant) -> Count {
        Count {
            failures: 0,
            first: now,
            blocked_until: None,
            second: (now, 0),
        }
    }

    fn blocked(&self, now: Instant) -> bool {
        self.blocked_until.is_some_and(|u| now < u)
    }

    /// One more failure; true when this one reaches `limit` (the block begins).
    fn fail(&mut self, now: Instant, window: Duration, limit: u32, block_for: Duration) -> bool {
        let block_over = self.blocked_until.is_some_and(|u| now >= u);
        if block_over || (now.duration_since(self.first) > window && !self.blocked(now)) {
            self.blocked_until = None;
            self.failures = 0;
            self.first = now;
        }
        self.failures += 1;
        if self.failures >= limit && !self.blocked(now) {
            self.blocked_until = Some(now + block_for);
            return true;
        }
        false
    }
}

#[derive(Debug, Default)]
struct UserEntry {
    count: Option<Count>,
    /// Sources that authenticated as this user (the phone's usual addresses), newest last.
    known: Vec<IpAddr>,
}

const KNOWN_PER_USER: usize = 4;

/// Shards of each table: one authenticated request locks one shard of each, never the table.
const SHARDS: usize = 16;

/// The guard: one per node, shared by the registrar and call admission.
pub struct Guard {
    config: GuardConfig,
    sources: Sharded<IpAddr, Count>,
    users: Sharded<String, UserEntry>,
    failures: AtomicU64,
    blocks: AtomicU64,
}

impl Guard {
    pub fn new(config: GuardConfig) -> Guard {
        Guard {
            config,
            sources: Sharded::new(SHARDS),
            users: Sharded::new(SHARDS),
            failures: AtomicU64::new(0),
            blocks: AtomicU64::new(0),
        }
    }

    /// Before checking credentials for `user` from `source`.
    pub fn admit(&self, source: IpAddr, user: &str) -> Admission {
        let now = Instant::now();
        let flood = self.config.flood_per_second;
        let blocked_source = self.sources.with(&source, |sources| {
            let c = sources.get_mut(&source).filter(|c| c.blocked(now))?;
            if now.duration_since(c.second.0) >= Duration::from_secs(1) {
                c.second = (now, 0);
            }
            c.second.1 += 1;
            Some(if c.second.1 > flood {
                Admission::Silence
            } else {
                Admission::Refuse
            })
        });
        if let Some(answer) = blocked_source {
            return answer;
        }
        let locked = self.users.with(user, |users| {
            users.get(user).is_some_and(|u| {
                u.count.as_ref().is_some_and(|c| c.blocked(now)) && !u.known.contains(&source)
            })
        });
        if locked {
            Admission::Refuse
        } else {
            Admission::Check
        }
    }

    /// The credentials failed: how long to wait before answering (zero for the first few).
    pub fn failed(&self, source: IpAddr, user: &str) -> Failure {
        let now = Instant::now();
        let c = &self.config;
        self.failures.fetch_add(1, Ordering::Relaxed);
        let per_shard = (c.max_entries / SHARDS).max(1);
        let (failures, source_blocked) = self.sources.with(&source, |sources| {
            make_room(sources, per_shard, &source, |e| e.blocked(now));
            let e = sources.entry(source).or_insert_with(|| Count::new(now));
            let began = e.fail(now, c.window, c.source_block_after, c.block_for);
            (e.failures, began)
        });
        let user_locked = self.users.with(user, |users| {
            make_room(users, per_shard, user, |e| {
                e.count.as_ref().is_some_and(|c| c.blocked(now))
            });
            let u = users.entry(user.to_string()).or_default();
            // Failures from the user's own phone do not count toward locking the name.
            !u.known.contains(&source)
                && u.count.get_or_insert_with(|| Count::new(now)).fail(
                    now,
                    c.window,
                    c.user_block_after,
                    c.block_for,
                )
        });
        self.blocks.fetch_add(
            u64::from(source_blocked) + u64::from(user_locked),
            Ordering::Relaxed,
        );
        let delay = match failures.checked_sub(c.free_failures) {
            None | Some(0) => Duration::ZERO,
            Some(n) => c
                .delay
                .saturating_mul(1u32 << (n - 1).min(16))
                .min(c.max_delay),
        };
        Failure {
            delay,
            source_blocked,
            user_locked,
        }
    }

    /// The credentials were right: the source's failures are forgiven and it becomes one of
    /// the user's known addresses.
    pub fn succeeded(&self, source: IpAddr, user: &str) {
        let now = Instant::now();
        self.sources.with(&source, |sources| {
            if sources.get(&source).is_some_and(|c| !c.blocked(now)) {
                sources.remove(&source);
            }
        });
        let per_shard = (self.config.max_entries / SHARDS).max(1);
        self.users.with(user, |users| {
            if users.len() >= per_shard && !users.contains_key(user) {
                return; // full of names under attack: the known address waits for room
            }
            let u = users.entry(user.to_string()).or_default();
            if !u.known.contains(&source) {
                if u.known.len() >= KNOWN_PER_USER {
                    u.known.remove(0);
                }
                u.known.push(source);
            }
        });
    }

    /// Everything blocked now.
    pub fn blocked(&self) -> Vec<Blocked> {
        let now = Instant::now();
        let until = |u: Instant| unix_seconds(u, now);
        let mut out: Vec<Blocked> = Vec::new();
        self.sources.each(|sources| {
            for (address, c) in sources.iter() {
                if let Some(u) = c.blocked_until.filter(|_| c.blocked(now)) {
                    out.push(Blocked::Source {
                        address: *address,
                        failures: c.failures,
                        until: until(u),
                    });
                }
            }
        });
        self.users.each(|users| {
            for (user, e) in users.iter() {
                if let Some(c) = e.count.as_ref().filter(|c| c.blocked(now)) {
                    out.push(Blocked::User {
                        user: user.clone(),
                        failures: c.failures,
                        until: until(c.blocked_until.unwrap_or(now)),
                    });
                }
            }
        });
        out.sort_by_key(|b| match b {
            Blocked::Source { address, .. } => (0, address.to_string()),
            Blocked::User { user, .. } => (1, user.clone()),
        });
        out
    }

    /// Lift the block (and forget the failures) of a source address; false if none.
    pub fn clear_source(&self, source: IpAddr) -> bool {
        self.sources
            .with(&source, |sources| sources.remove(&source))
            .is_some()
    }

    /// Lift the lock (and forget the failures) of a user name; false if none.
    pub fn clear_user(&self, user: &str) -> bool {
        self.users
            .with(user, |users| {
                users.get_mut(user).and_then(|u| u.count.take())
            })
            .is_some()
    }

    /// Lift every block.
    pub fn clear_all(&self) {
        self.sources.each(|sources| sources.clear());
        self.users.each(|users| {
            for u in users.values_mut() {
                u.count = None;
            }
        });
    }

    /// Failed digest checks counted since start.
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    /// Blocks begun since start.
    pub fn blocks(&self) -> u64 {
        self.blocks.load(Ordering::Relaxed)
    }
}

/// Keep a table under `max` entries before `key` is added: entries not worth keeping go
/// first (neither blocked nor recent); if none, the table starts again rather than grow.
fn make_room<K, V, Q>(map: &mut HashMap<K, V>, max: usize, key: &Q, keep: impl Fn(&V) -> bool)
where
    K: std::borrow::Borrow<Q> + std::hash::Hash + Eq,
    Q: std::hash::Hash + Eq + ?Sized,
{
    if map.len() < max || map.contains_key(key) {
        return;
    }
    map.retain(|_, v| keep(v));
    if map.len() >= max {
        map.clear();
    }
}

fn unix_seconds(at: Instant, now: Instant) -> u64 {
    let wall = SystemTime::now() + at.saturating_duration_since(now);
    wall.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([192, 0, 2, last])
    }

    fn guard() -> Guard {
        Guard::new(GuardConfig {
            free_failures: 2,
            delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(350),
            source_block_after: 5,
            user_block_after: 8,
            ..GuardConfig::default()
        })
    }

    #[test]
    fn delays_grow_then_the_source_is_refused_and_then_silenced_when_it_floods() {
        let g = guard();
        let delays: Vec<u128> = (0..4)
            .map(|_| g.failed(ip(1), "1001").delay.as_millis())
            .collect();
        assert_eq!(delays, vec![0, 0, 100, 200]);
        assert_eq!(g.admit(ip(1), "1001"), Admission::Check);
        let fifth = g.failed(ip(1), "1001");
        assert_eq!(fifth.delay.as_millis(), 350, "capped");
        assert!(fifth.source_blocked && !fifth.user_locked);
        assert_eq!(g.admit(ip(1), "anyone"), Admission::Refuse, "blocked");
        let answers: Vec<Admission> = (0..30).map(|_| g.admit(ip(1), "x")).collect();
        assert!(
            answers.contains(&Admission::Silence),
            "a flood gets silence"
        );
        assert_eq!(g.admit(ip(2), "1001"), Admission::Check, "others go on");
        assert_eq!(g.blocks(), 1);
        assert_eq!(g.failures(), 5);
    }

    #[test]
    fn a_user_guessed_from_many_sources_is_locked_except_for_its_own_phone() {
        let g = guard();
        g.succeeded(ip(10), "1001"); // the phone, at its usual address
        for i in 0..8 {
            g.failed(ip(100 + i), "1001");
        }
        assert_eq!(g.admit(ip(200), "1001"), Admission::Refuse);
        assert_eq!(g.admit(ip(10), "1001"), Admission::Check, "the phone");
        assert_eq!(g.admit(ip(200), "1002"), Admission::Check, "other users");
        // The phone's own mistakes do not lock its name.
        let g = guard();
        g.succeeded(ip(10), "1001");
        for _ in 0..4 {
            g.failed(ip(10), "1001");
        }
        assert_eq!(g.admit(ip(11), "1001"), Admission::Check);
    }

    #[test]
    fn success_forgives_and_the_administrator_can_lift_blocks() {
        let g = guard();
        g.failed(ip(1), "1001");
        g.failed(ip(1), "1001");
        g.succeeded(ip(1), "1001");
        assert_eq!(
            g.failed(ip(1), "1001").delay,
            Duration::ZERO,
            "counting anew"
        );
        for _ in 0..5 {
            g.failed(ip(3), "1002");
        }
        let blocked = g.blocked();
        assert!(matches!(blocked.as_slice(),
            [Blocked::Source { address, failures: 5, .. }] if *address == ip(3)));
        assert!(g.clear_source(ip(3)));
        assert_eq!(g.admit(ip(3), "1002"), Admission::Check);
        assert!(g.blocked().is_empty());
        for i in 0..8 {
            g.failed(ip(50 + i), "1003");
        }
        assert!(g.clear_user("1003"));
        assert!(!g.clear_user("1003"));
        assert_eq!(g.admit(ip(99), "1003"), Admission::Check);
    }

    #[test]
    fn the_tables_stay_bounded_under_a_spray_of_sources_and_names() {
        let g = Guard::new(GuardConfig {
            max_entries: 100,
            ..GuardConfig::default()
        });
        for i in 0..10_000u32 {
            let b = i.to_be_bytes();
            g.failed(IpAddr::from([10, b[1], b[2], b[3]]), &format!("u{i}"));
        }
        let (mut sources, mut users) = (0, 0);
        g.sources.each(|m| sources += m.len());
        g.users.each(|m| users += m.len());
        assert!(sources <= 100, "{sources} sources");
        assert!(users <= 100, "{users} names");
    }
}
