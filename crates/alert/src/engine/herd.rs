//! Herd fever: an animal compared with itself (same time of day on previous
//! days) and with its pen mates (the median right now).
//!
//! Why both: ear tags measure skin temperature, which follows the day's heat and
//! the barn's air. The daily cycle moves the animal and its baseline together; a
//! hot afternoon moves the whole pen and its median. Only an animal that is warm
//! against both is likely ill.

use std::collections::HashMap;

use cunlink_farm::telemetry::DeviceId;

/// Baseline slots are 15 minutes wide.
pub const SLOT_MS: i64 = 15 * 60 * 1000;
const SLOTS_PER_DAY: i64 = 24 * 4;

/// Sums of readings per 15-minute slot over the last few days.
#[derive(Debug, Clone)]
pub struct Baseline {
    days: i64,
    /// Slots either side of the reading's own slot that count as "same time of day".
    half_width: i64,
    /// Ring indexed by absolute slot number modulo its length.
    ring: Vec<(i64, f32, u32)>,
}

impl Baseline {
    pub fn new(days: u32, window_min: u32) -> Baseline {
        let days = days.max(1) as i64;
        let half_width = ((window_min as i64 * 60_000) / SLOT_MS).max(0);
        let len = ((days + 1) * SLOTS_PER_DAY + half_width + 1) as usize;
        Baseline {
            days,
            half_width,
            ring: vec![(i64::MIN, 0.0, 0); len],
        }
    }

    pub fn add(&mut self, ts: i64, v: f64) {
        let abs = ts.div_euclid(SLOT_MS);
        let i = abs.rem_euclid(self.ring.len() as i64) as usize;
        let cell = &mut self.ring[i];
        if cell.0 != abs {
            *cell = (abs, 0.0, 0);
        }
        cell.1 += v as f32;
        cell.2 += 1;
    }

    /// Mean of the readings at the same time of day (± the window) on each of
    /// the previous days; `None` without at least `min_readings` of them.
    pub fn at(&self, ts: i64, min_readings: u32) -> Option<f64> {
        let abs = ts.div_euclid(SLOT_MS);
        let (mut sum, mut n) = (0.0f64, 0u32);
        for day in 1..=self.days {
            for k in -self.half_width..=self.half_width {
                let want = abs - day * SLOTS_PER_DAY + k;
                let i = want.rem_euclid(self.ring.len() as i64) as usize;
                let (slot, s, c) = self.ring[i];
                if slot == want {
                    sum += s as f64;
                    n += c;
                }
            }
        }
        (n >= min_readings.max(1)).then(|| sum / n as f64)
    }
}

/// Latest temperature of each animal of one pen.
#[derive(Debug, Default)]
pub struct Pen {
    latest: HashMap<DeviceId, (i64, f64)>,
    scratch: Vec<f64>,
}

/// Pen mates' readings older than this (event time) do not count for the median.
pub const PEN_FRESH_MS: i64 = 30 * 60 * 1000;
/// The median needs at least this many other animals; otherwise only the
/// animal's own baseline is used.
pub const PEN_MIN_MATES: usize = 3;

impl Pen {
    pub fn note(&mut self, device: DeviceId, ts: i64, v: f64) {
        let e = self.latest.entry(device).or_insert((ts, v));
        if ts >= e.0 {
            *e = (ts, v);
        }
    }

    /// Median of the other animals' temperatures near `ts`.
    pub fn median_without(&mut self, device: DeviceId, ts: i64) -> Option<f64> {
        self.scratch.clear();
        for (d, (t, v)) in &self.latest {
            if *d != device && (ts - t).abs() <= PEN_FRESH_MS {
                self.scratch.push(*v);
            }
        }
        if self.scratch.len() < PEN_MIN_MATES {
            return None;
        }
        self.scratch.sort_by(|a, b| a.total_cmp(b));
        let n = self.scratch.len();
        Some(if n % 2 == 1 {
            self.scratch[n / 2]
        } else {
            (self.scratch[n / 2 - 1] + self.scratch[n / 2]) / 2.0
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 24 * 3600 * 1000;

    #[test]
    fn baseline_is_same_time_of_day() {
        let mut b = Baseline::new(3, 30);
        // Three days of a cycle: warm at noon, cool at midnight.
        for day in 0..3 {
            for m in (0..24 * 60).step_by(10) {
                let ts = day * DAY + m * 60_000;
                let v = if (10 * 60..14 * 60).contains(&m) {
                    37.0
                } else {
                    35.0
                };
                b.add(ts, v);
            }
        }
        let noon = 3 * DAY + 12 * 3600 * 1000;
        let midnight = 3 * DAY + 60_000;
        assert!((b.at(noon, 3).unwrap() - 37.0).abs() < 1e-6);
        assert!(b.at(midnight, 3).unwrap() < 35.5);
        // Nothing a week later: the ring forgot.
        assert!(b.at(10 * DAY, 1).is_none());
    }

    #[test]
    fn median_skips_self_and_stale() {
        let mut p = Pen::default();
        for i in 0..5 {
            p.note(DeviceId(i), 1000, 36.0 + i as f64 * 0.1);
        }
        p.note(DeviceId(9), 1000 - 2 * PEN_FRESH_MS, 50.0);
        let m = p.median_without(DeviceId(0), 1000).unwrap();
        assert!((m - 36.25).abs() < 1e-9, "{m}");
    }
}
