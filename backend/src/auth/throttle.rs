//! Login throttling: a sliding window of failed attempts per client address and per (account, address).
//!
//! Keying the account limit on the client address too means an attacker exhausting an account's
//! attempts from their own address cannot lock the real owner out from theirs.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::config::ThrottleConfig;

/// Failed-login bookkeeping, in memory of this process.
pub struct LoginThrottle {
    config: ThrottleConfig,
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl LoginThrottle {
    /// A throttle with the given limits.
    pub fn new(config: ThrottleConfig) -> Self {
        LoginThrottle {
            config,
            failures: Mutex::new(HashMap::new()),
        }
    }

    fn keys(ip: &str, username: &str) -> [(String, bool); 2] {
        [
            (format!("ip:{ip}"), true),
            (format!("acct:{}|{ip}", username.to_lowercase()), false),
        ]
    }

    /// Starts a login attempt: `Err(wait)` when the address or the account has used its attempts,
    /// else the attempt, already counted as a failure. Checking and counting under one lock is what
    /// keeps parallel attempts within the limits: the slow password check comes after.
    pub fn begin(&self, ip: &str, username: &str) -> Result<Attempt, Duration> {
        let now = Instant::now();
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let mut wait: Option<Duration> = None;
        for (key, is_ip) in Self::keys(ip, username) {
            let limit = self.limit(is_ip);
            if let Some(q) = map.get_mut(&key) {
                prune(q, now, self.config.window);
                if q.len() >= limit {
                    // The oldest attempt in the window must age out before another one.
                    let until = q[q.len() - limit] + self.config.window;
                    let w = until
                        .saturating_duration_since(now)
                        .max(Duration::from_secs(1));
                    wait = Some(wait.map_or(w, |x| x.max(w)));
                }
            }
        }
        if let Some(wait) = wait {
            return Err(wait);
        }
        if map.len() > 100_000 {
            // Bound memory under a flood of distinct keys: forget windows that have passed.
            let window = self.config.window;
            map.retain(|_, q| {
                prune(q, now, window);
                !q.is_empty()
            });
        }
        for (key, _) in Self::keys(ip, username) {
            map.entry(key).or_default().push_back(now);
        }
        Ok(Attempt {
            ip: ip.to_string(),
            username: username.to_string(),
            at: now,
        })
    }

    fn limit(&self, is_ip: bool) -> usize {
        if is_ip {
            self.config.max_failures_per_ip as usize
        } else {
            self.config.max_failures_per_account as usize
        }
    }

    /// The attempt succeeded: it no longer counts against the address, and the account's failures from
    /// this address are forgotten.
    pub fn succeeded(&self, attempt: Attempt) {
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let [(ip_key, _), (account_key, _)] = Self::keys(&attempt.ip, &attempt.username);
        map.remove(&account_key);
        if let Some(q) = map.get_mut(&ip_key) {
            if let Some(i) = q.iter().position(|t| *t == attempt.at) {
                q.remove(i);
            }
        }
    }
}

/// A login attempt in progress, counted as a failure until [`LoginThrottle::succeeded`].
#[derive(Debug)]
pub struct Attempt {
    ip: String,
    username: String,
    at: Instant,
}

fn prune(q: &mut VecDeque<Instant>, now: Instant, window: Duration) {
    while q
        .front()
        .is_some_and(|t| now.saturating_duration_since(*t) >= window)
    {
        q.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throttle(ip: u32, acct: u32) -> LoginThrottle {
        LoginThrottle::new(ThrottleConfig {
            max_failures_per_ip: ip,
            max_failures_per_account: acct,
            window: Duration::from_secs(60),
        })
    }

    #[test]
    fn account_limit_applies_per_address() {
        let t = throttle(100, 3);
        for _ in 0..3 {
            t.begin("1.1.1.1", "alice").unwrap();
        }
        let wait = t.begin("1.1.1.1", "ALICE").unwrap_err();
        assert!(wait <= Duration::from_secs(60) && wait >= Duration::from_secs(1));
        // The owner elsewhere is not locked out, and other accounts from the attacker are not blocked yet.
        assert!(t.begin("2.2.2.2", "alice").is_ok());
        assert!(t.begin("1.1.1.1", "bob").is_ok());
    }

    #[test]
    fn address_limit_spans_accounts() {
        let t = throttle(4, 100);
        for name in ["a", "b", "c", "d"] {
            t.begin("9.9.9.9", name).unwrap();
        }
        assert!(t.begin("9.9.9.9", "e").is_err());
        assert!(t.begin("8.8.8.8", "e").is_ok());
    }

    #[test]
    fn attempts_in_flight_count_before_they_are_verified() {
        // Nothing is verified yet, and still the sixth attempt waits.
        let t = throttle(5, 100);
        let in_flight: Vec<Attempt> = (0..5).map(|_| t.begin("7.7.7.7", "x").unwrap()).collect();
        assert!(t.begin("7.7.7.7", "x").is_err());
        assert_eq!(in_flight.len(), 5);
    }

    #[test]
    fn a_success_gives_its_attempt_back_and_clears_the_account_counter() {
        let t = throttle(3, 2);
        t.begin("1.1.1.1", "alice").unwrap();
        let second = t.begin("1.1.1.1", "alice").unwrap();
        assert!(t.begin("1.1.1.1", "alice").is_err());
        t.succeeded(second);
        assert!(t.begin("1.1.1.1", "alice").is_ok());
        // Address: one failure and one attempt in flight; the success gave its slot back.
        assert!(t.begin("1.1.1.1", "bob").is_ok());
        assert!(t.begin("1.1.1.1", "carol").is_err());
    }
}
