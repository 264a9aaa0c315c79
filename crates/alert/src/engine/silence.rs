//! Silence timers: "no data for N seconds", judged on the wall clock, each
//! (rule, device) with its own deadline so that an alarm fires on the second.

use std::collections::{BTreeSet, HashMap};

use cunlink_farm::telemetry::DeviceId;

#[derive(Default)]
pub struct Timers {
    due: BTreeSet<(i64, i64, DeviceId)>,
    by_key: HashMap<(i64, DeviceId), Timer>,
}

#[derive(Clone, Copy)]
struct Timer {
    deadline: i64,
    /// The silence alarm fired and data has not come back since.
    firing: bool,
}

impl Timers {
    /// Data arrived: the silence (if any) is over; wait again until `deadline`.
    /// Returns true if the silence had fired (its alarm should clear).
    pub fn touch(&mut self, rule: i64, device: DeviceId, deadline: i64) -> bool {
        let old = self.by_key.insert(
            (rule, device),
            Timer {
                deadline,
                firing: false,
            },
        );
        if let Some(t) = old {
            self.due.remove(&(t.deadline, rule, device));
        }
        self.due.insert((deadline, rule, device));
        old.is_some_and(|t| t.firing)
    }

    pub fn is_armed(&self, rule: i64, device: DeviceId) -> bool {
        self.by_key.contains_key(&(rule, device))
    }

    /// Arm a timer only if none is armed (start-up, new rules).
    pub fn arm(&mut self, rule: i64, device: DeviceId, deadline: i64) {
        if !self.is_armed(rule, device) {
            self.touch(rule, device, deadline);
        }
    }

    pub fn remove(&mut self, rule: i64, device: DeviceId) {
        if let Some(t) = self.by_key.remove(&(rule, device)) {
            self.due.remove(&(t.deadline, rule, device));
        }
    }

    /// Keep only timers for which `keep` says yes.
    pub fn retain(&mut self, mut keep: impl FnMut(i64, DeviceId) -> bool) {
        let gone: Vec<(i64, DeviceId)> = self
            .by_key
            .keys()
            .filter(|(r, d)| !keep(*r, *d))
            .copied()
            .collect();
        for (r, d) in gone {
            self.remove(r, d);
        }
    }

    pub fn next_deadline(&self) -> Option<i64> {
        self.due.first().map(|(t, _, _)| *t)
    }

    /// Timers due at `now`: (rule, device, deadline). They stay known as firing
    /// until data arrives.
    pub fn pop_due(&mut self, now: i64) -> Vec<(i64, DeviceId, i64)> {
        let mut out = Vec::new();
        while let Some(&(t, rule, device)) = self.due.first() {
            if t > now {
                break;
            }
            self.due.remove(&(t, rule, device));
            if let Some(timer) = self.by_key.get_mut(&(rule, device)) {
                timer.firing = true;
            }
            out.push((rule, device, t));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fires_once_then_clears_on_data() {
        let mut t = Timers::default();
        t.arm(1, DeviceId(7), 1000);
        t.arm(1, DeviceId(7), 5000);
        assert_eq!(t.next_deadline(), Some(1000));
        assert!(t.pop_due(999).is_empty());
        assert_eq!(t.pop_due(1000), vec![(1, DeviceId(7), 1000)]);
        assert!(t.pop_due(10_000).is_empty());
        assert!(t.touch(1, DeviceId(7), 3000));
        assert!(!t.touch(1, DeviceId(7), 4000));
        assert_eq!(t.next_deadline(), Some(4000));
    }
}
