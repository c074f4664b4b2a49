//! Wrong passwords counted per user ID within a minute, so a password cannot be guessed
//! through a form or a phone's Authentication URL. The table is bounded: when it is full,
//! windows that ended are forgotten, and if none has, it starts again rather than grow.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const WINDOW: Duration = Duration::from_secs(60);
/// User IDs tracked at most.
const TABLE: usize = 100_000;

/// Wrong passwords per user ID in the current minute.
pub struct Guesses {
    per_minute: u32,
    seen: Mutex<HashMap<String, (u32, Instant)>>,
}

impl Guesses {
    pub fn new(per_minute: u32) -> Guesses {
        Guesses {
            per_minute: per_minute.max(1),
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// Whether `user` may be tried now.
    pub fn may_try(&self, user: &str) -> bool {
        let seen = self.seen.lock().expect("guesses");
        match seen.get(user) {
            Some((n, since)) => *n < self.per_minute || since.elapsed() >= WINDOW,
            None => true,
        }
    }

    /// Count a wrong password for `user`.
    pub fn failed(&self, user: &str) {
        let mut seen = self.seen.lock().expect("guesses");
        if seen.len() >= TABLE && !seen.contains_key(user) {
            seen.retain(|_, (_, since)| since.elapsed() < WINDOW);
            if seen.len() >= TABLE {
                seen.clear();
            }
        }
        let entry = seen.entry(user.to_owned()).or_insert((0, Instant::now()));
        if entry.1.elapsed() >= WINDOW {
            *entry = (0, Instant::now());
        }
        entry.0 += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guesses_stop_at_the_limit_for_that_user_only() {
        let g = Guesses::new(3);
        for _ in 0..3 {
            assert!(g.may_try("ann"));
            g.failed("ann");
        }
        assert!(!g.may_try("ann"));
        assert!(g.may_try("bob"));
    }

    #[test]
    fn the_table_does_not_grow_past_its_bound() {
        let g = Guesses::new(3);
        for i in 0..TABLE + 10 {
            g.failed(&format!("user{i}"));
        }
        assert!(g.seen.lock().unwrap().len() <= TABLE);
    }
}
