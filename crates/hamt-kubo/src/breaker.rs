//! A circuit breaker per gateway, as py-hamt 3.6.0's `KuboCAS` keeps: after
//! a run of consecutive failures a gateway is *open* (tried only after every
//! healthy one) for a cooldown; after it, one more failure opens it again at
//! once, one success closes it.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// When a gateway's breaker opens, and for how long.
///
/// ```
/// use std::time::Duration;
/// use hamt_kubo::BreakerPolicy;
/// let policy = BreakerPolicy::default();
/// assert_eq!(policy.failures, 3);
/// assert_eq!(policy.cooldown, Duration::from_secs(30));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BreakerPolicy {
    /// Consecutive failed requests (transport errors, 5xx, 429, corrupt
    /// answers) that open the breaker; 0 turns breakers off.
    pub failures: u32,
    /// How long an open gateway waits behind the healthy ones.
    pub cooldown: Duration,
}

impl Default for BreakerPolicy {
    /// py-hamt's: 3 failures, 30 s.
    fn default() -> Self {
        BreakerPolicy {
            failures: 3,
            cooldown: Duration::from_secs(30),
        }
    }
}

/// One gateway's breaker.
#[derive(Debug, Default)]
pub(crate) struct Breaker {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Consecutive failures (kept one short of the threshold after a
    /// cooldown, so a single failure reopens).
    failures: u32,
    /// Open until then.
    open_until: Option<Instant>,
}

impl Breaker {
    /// `Some(until)` while the breaker is open.
    pub(crate) fn open_until(&self, now: Instant) -> Option<Instant> {
        let state = self.lock();
        state.open_until.filter(|until| now < *until)
    }

    /// A request answered (with the block, or "not found"): closed.
    pub(crate) fn succeeded(&self) {
        *self.lock() = State::default();
    }

    /// A request failed; whether that opened the breaker.
    pub(crate) fn failed(&self, policy: BreakerPolicy, now: Instant) -> bool {
        if policy.failures == 0 {
            return false;
        }
        let mut state = self.lock();
        state.failures += 1;
        if state.failures < policy.failures {
            return false;
        }
        // On probation after the cooldown: one failure short of opening.
        state.failures = policy.failures - 1;
        state.open_until = Some(now + policy.cooldown);
        true
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is two plain fields, consistent after any panic.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The order to try gateways in: healthy ones as configured, then open ones,
/// the one reopening first before the others.
pub(crate) fn order(breakers: &[Breaker], now: Instant) -> Vec<usize> {
    let mut healthy = Vec::with_capacity(breakers.len());
    let mut open = Vec::new();
    for (i, breaker) in breakers.iter().enumerate() {
        match breaker.open_until(now) {
            None => healthy.push(i),
            Some(until) => open.push((until, i)),
        }
    }
    open.sort_unstable();
    healthy.extend(open.into_iter().map(|(_, i)| i));
    healthy
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: BreakerPolicy = BreakerPolicy {
        failures: 3,
        cooldown: Duration::from_secs(30),
    };

    #[test]
    fn opens_after_the_threshold_and_reopens_on_probation() {
        let b = Breaker::default();
        let t0 = Instant::now();
        assert!(!b.failed(POLICY, t0));
        assert!(!b.failed(POLICY, t0));
        assert!(b.open_until(t0).is_none());
        assert!(b.failed(POLICY, t0));
        assert_eq!(b.open_until(t0), Some(t0 + POLICY.cooldown));
        let after = t0 + POLICY.cooldown;
        assert!(
            b.open_until(after).is_none(),
            "closed again after the cooldown"
        );
        assert!(b.failed(POLICY, after), "one failure on probation reopens");
        b.succeeded();
        assert!(b.open_until(after).is_none());
        assert!(!b.failed(POLICY, after), "a success resets the count");
    }

    #[test]
    fn a_success_between_failures_keeps_it_closed() {
        let b = Breaker::default();
        let now = Instant::now();
        for _ in 0..10 {
            assert!(!b.failed(POLICY, now));
            assert!(!b.failed(POLICY, now));
            b.succeeded();
        }
        assert!(b.open_until(now).is_none());
    }

    #[test]
    fn zero_failures_turns_it_off() {
        let b = Breaker::default();
        let off = BreakerPolicy {
            failures: 0,
            ..POLICY
        };
        for _ in 0..10 {
            assert!(!b.failed(off, Instant::now()));
        }
        assert!(b.open_until(Instant::now()).is_none());
    }

    #[test]
    fn open_gateways_go_last_soonest_first() {
        let breakers: Vec<Breaker> = (0..4).map(|_| Breaker::default()).collect();
        let now = Instant::now();
        let open = |i: usize, cooldown| {
            let policy = BreakerPolicy {
                failures: 1,
                cooldown,
            };
            assert!(breakers[i].failed(policy, now));
        };
        open(0, Duration::from_secs(20));
        open(2, Duration::from_secs(10));
        assert_eq!(order(&breakers, now), [1, 3, 2, 0]);
        assert_eq!(
            order(&breakers, now + Duration::from_secs(15)),
            [1, 2, 3, 0]
        );
    }
}
