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

    /// `Some(wait)` when another attempt from `ip` for `username` must wait.
    pub fn check(&self, ip: &str, username: &str) -> Option<Duration> {
        let now = Instant::now();
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let mut wait: Option<Duration> = None;
        for (key, is_ip) in Self::keys(ip, username) {
            let limit = if is_ip {
                self.config.max_failures_per_ip
            } else {
                self.config.max_failures_per_account
            } as usize;
            if let Some(q) = map.get_mut(&key) {
                prune(q, now, self.config.window);
                if q.len() >= limit {
                    // The oldest failure in the window must age out before another attempt.
                    let until = q[q.len() - limit] + self.config.window;
                    let w = until
                        .saturating_duration_since(now)
                        .max(Duration::from_secs(1));
                    wait = Some(wait.map_or(w, |x| x.max(w)));
                }
            }
        }
        wait
    }

    /// Records a failed attempt.
    pub fn record_failure(&self, ip: &str, username: &str) {
        let now = Instant::now();
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() > 100_000 {
            // Bound memory under a flood of distinct keys: forget windows that have passed.
            let window = self.config.window;
            map.retain(|_, q| {
                prune(q, now, window);
                !q.is_empty()
            });
        }
        let cap = self
            .config
            .max_failures_per_ip
            .max(self.config.max_failures_per_account) as usize;
        for (key, _) in Self::keys(ip, username) {
            let q = map.entry(key).or_default();
            prune(q, now, self.config.window);
            q.push_back(now);
            while q.len() > cap {
                q.pop_front();
            }
        }
    }

    /// Forgets the account's failures from this address after a successful login.
    pub fn record_success(&self, ip: &str, username: &str) {
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        map.remove(&Self::keys(ip, username)[1].0);
    }
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
            assert!(t.check("1.1.1.1", "alice").is_none());
            t.record_failure("1.1.1.1", "alice");
        }
        let wait = t.check("1.1.1.1", "ALICE").unwrap();
        assert!(wait <= Duration::from_secs(60) && wait >= Duration::from_secs(1));
        // The owner elsewhere is not locked out, and other accounts from the attacker are not blocked yet.
        assert!(t.check("2.2.2.2", "alice").is_none());
        assert!(t.check("1.1.1.1", "bob").is_none());
    }

    #[test]
    fn address_limit_spans_accounts() {
        let t = throttle(4, 100);
        for name in ["a", "b", "c", "d"] {
            t.record_failure("9.9.9.9", name);
        }
        assert!(t.check("9.9.9.9", "e").is_some());
        assert!(t.check("8.8.8.8", "e").is_none());
    }

    #[test]
    fn success_clears_the_account_counter() {
        let t = throttle(100, 2);
        t.record_failure("1.1.1.1", "alice");
        t.record_failure("1.1.1.1", "alice");
        assert!(t.check("1.1.1.1", "alice").is_some());
        t.record_success("1.1.1.1", "alice");
        assert!(t.check("1.1.1.1", "alice").is_none());
    }
}
