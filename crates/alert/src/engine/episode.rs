//! "Holds for N seconds": the part every duration rule shares.
//!
//! An episode starts at the first reading (event time) where the condition
//! holds and ends at the first where it does not. It fires once, when it has
//! lasted `for_ms`; a flood of readings that keeps it true fires nothing more.

#[derive(Debug, Default, Clone)]
pub struct Episode {
    since: Option<i64>,
    fired: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Nothing,
    /// The condition has held since `since` long enough: raise.
    Fire {
        since: i64,
    },
    /// A fired episode ended: clear (if the rule clears by itself).
    Clear,
}

impl Episode {
    pub fn step(&mut self, holds: bool, ts: i64, for_ms: i64) -> Step {
        if holds {
            let since = *self.since.get_or_insert(ts);
            if !self.fired && ts - since >= for_ms {
                self.fired = true;
                return Step::Fire { since };
            }
            Step::Nothing
        } else {
            self.since = None;
            if std::mem::take(&mut self.fired) {
                Step::Clear
            } else {
                Step::Nothing
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fires_once_after_duration_and_clears() {
        let mut e = Episode::default();
        assert_eq!(e.step(true, 0, 600), Step::Nothing);
        assert_eq!(e.step(true, 300, 600), Step::Nothing);
        assert_eq!(e.step(true, 600, 600), Step::Fire { since: 0 });
        for t in 0..1000 {
            assert_eq!(e.step(true, 700 + t, 600), Step::Nothing);
        }
        assert_eq!(e.step(false, 2000, 600), Step::Clear);
        assert_eq!(e.step(false, 2100, 600), Step::Nothing);
    }

    #[test]
    fn a_spike_does_not_fire() {
        let mut e = Episode::default();
        assert_eq!(e.step(true, 0, 600), Step::Nothing);
        assert_eq!(e.step(false, 60, 600), Step::Nothing);
        assert_eq!(e.step(true, 120, 600), Step::Nothing);
        assert_eq!(e.step(true, 700, 600), Step::Nothing);
        assert_eq!(e.step(true, 720, 600), Step::Fire { since: 120 });
    }
}
