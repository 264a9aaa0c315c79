//! Which simulcast layer a classroom gets: the best layer whose measured rate
//! fits its estimated bandwidth, leaving room for voice — or the layer the
//! classroom pinned ([`Subscriber::pin`]) — and when it may move there
//! ([`Subscriber::on_frame`]: only on a keyframe of the new layer).

use std::time::{Duration, Instant};

use str0m::bwe::Bitrate;
use str0m::media::Rid;

/// Every classroom's starting estimate: the low layer fits, the middle does not.
pub(crate) const START: Bitrate = Bitrate::kbps(300);
/// Voice and headroom kept out of the estimate before video is fitted.
const AUDIO_BPS: u64 = 40_000;
/// A layer is chosen when its rate is at most this share of what is left.
const FIT: f64 = 0.85;
/// The window over which an incoming layer's rate is measured.
const WINDOW: Duration = Duration::from_secs(1);

/// The incoming rate of each simulcast layer of the teacher's camera.
#[derive(Default)]
pub(crate) struct Rates {
    layers: Vec<Layer>,
}

struct Layer {
    rid: Rid,
    since: Instant,
    bytes: u64,
    bps: u64,
}

impl Rates {
    /// Count `bytes` of layer `rid` arriving `now`.
    pub(crate) fn add(&mut self, rid: Rid, bytes: usize, now: Instant) {
        let l = match self.layers.iter().position(|l| l.rid == rid) {
            Some(i) => &mut self.layers[i],
            None => {
                self.layers.push(Layer {
                    rid,
                    since: now,
                    bytes: 0,
                    bps: 0,
                });
                let last = self.layers.len() - 1;
                &mut self.layers[last]
            }
        };
        l.bytes = l.bytes.saturating_add(bytes as u64);
        let dt = now.saturating_duration_since(l.since);
        if dt >= WINDOW {
            l.bps = (l.bytes.saturating_mul(8) as f64 / dt.as_secs_f64()) as u64;
            l.bytes = 0;
            l.since = now;
        }
    }

    /// The layers measured so far, lowest rate first (unmeasured ones last).
    fn sorted(&self) -> Vec<(Rid, u64)> {
        let mut v: Vec<(Rid, u64)> = self
            .layers
            .iter()
            .map(|l| (l.rid, if l.bps == 0 { u64::MAX } else { l.bps }))
            .collect();
        v.sort_by_key(|&(_, bps)| bps);
        v
    }

    /// The layer for a classroom with `estimate` bits per second: the highest
    /// that fits, else the lowest. `None` before any layer has been seen.
    pub(crate) fn choose(&self, estimate: u64) -> Option<Rid> {
        let v = self.sorted();
        let budget = (estimate.saturating_sub(AUDIO_BPS) as f64 * FIT) as u64;
        let fit = v
            .iter()
            .rev()
            .find(|&&(_, bps)| bps <= budget)
            .map(|&(r, _)| r);
        fit.or_else(|| v.first().map(|&(r, _)| r))
    }

    /// The rate to probe towards for a classroom now on `current`: the next
    /// layer up (plus voice), or the current one at the top.
    pub(crate) fn desired(&self, current: Option<Rid>) -> Option<Bitrate> {
        let v: Vec<(Rid, u64)> = self
            .sorted()
            .into_iter()
            .filter(|&(_, b)| b != u64::MAX)
            .collect();
        let i = v.iter().position(|&(r, _)| Some(r) == current)?;
        let next = v.get(i + 1).unwrap_or(&v[i]).1;
        Some(Bitrate::bps((next as f64 / FIT) as u64 + AUDIO_BPS))
    }

    /// Whether layer `rid` has been seen from the teacher.
    pub(crate) fn has(&self, rid: Rid) -> bool {
        self.layers.iter().any(|l| l.rid == rid)
    }
}

/// The measured rate of one stream (the teacher's screen) over [`WINDOW`].
#[derive(Default)]
pub(crate) struct Meter {
    since: Option<Instant>,
    bytes: u64,
    bps: u64,
}

impl Meter {
    pub(crate) fn add(&mut self, bytes: usize, now: Instant) {
        let since = *self.since.get_or_insert(now);
        self.bytes = self.bytes.saturating_add(bytes as u64);
        let dt = now.saturating_duration_since(since);
        if dt >= WINDOW {
            self.bps = (self.bytes.saturating_mul(8) as f64 / dt.as_secs_f64()) as u64;
            self.bytes = 0;
            self.since = Some(now);
        }
    }

    pub(crate) fn bps(&self) -> u64 {
        self.bps
    }

    /// Forget the rate (the screen stopped; a new share is measured afresh).
    pub(crate) fn reset(&mut self) {
        *self = Meter::default();
    }
}

/// A classroom's place in the teacher's camera layers.
#[derive(Debug, Default)]
pub(crate) struct Subscriber {
    /// The layer forwarded now (`None`: none yet).
    pub(crate) layer: Option<Rid>,
    /// Waits for a keyframe before anything is forwarded (no simulcast).
    pub(crate) wants_keyframe: bool,
    /// The layer this classroom asked for, whatever its estimate; used while
    /// the teacher sends it, else the estimate decides.
    pub(crate) pin: Option<Rid>,
}

/// What a frame of the teacher's camera means for one classroom.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// Nothing changes.
    Stay,
    /// The classroom moved to `layer` with this (key)frame.
    Switched,
    /// The classroom waits for a keyframe of this layer: ask the teacher.
    Ask(Option<Rid>),
}

impl Subscriber {
    pub(crate) fn new(pin: Option<Rid>) -> Subscriber {
        Subscriber {
            layer: None,
            wants_keyframe: true,
            pin,
        }
    }

    /// The layer this classroom should get now.
    pub(crate) fn want(&self, estimate: u64, rates: &Rates) -> Option<Rid> {
        match self.pin {
            Some(p) if rates.has(p) => Some(p),
            _ => rates.choose(estimate),
        }
    }

    /// A frame of layer `rid` (`None`: no simulcast) arrives for a classroom
    /// with `estimate` bits per second: switch on a keyframe of the wanted
    /// layer, else ask for one.
    pub(crate) fn on_frame(
        &mut self,
        rid: Option<Rid>,
        keyframe: bool,
        estimate: u64,
        rates: &Rates,
    ) -> Step {
        if rid.is_none() {
            // No simulcast: one keyframe for a newcomer, then every frame.
            if std::mem::take(&mut self.wants_keyframe) && !keyframe {
                return Step::Ask(None);
            }
            return Step::Stay;
        }
        let Some(want) = self.want(estimate, rates) else {
            return Step::Stay;
        };
        if self.layer == Some(want) {
            return Step::Stay;
        }
        if rid == Some(want) && keyframe {
            self.layer = Some(want);
            self.wants_keyframe = false;
            Step::Switched
        } else {
            Step::Ask(Some(want))
        }
    }

    /// Whether a frame of layer `rid` goes to this classroom.
    pub(crate) fn forwards(&self, rid: Option<Rid>) -> bool {
        rid.is_none() || self.layer == rid
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rates() -> Rates {
        let mut r = Rates::default();
        let t0 = Instant::now();
        // q 150 kbit/s, h 500 kbit/s, f 1.5 Mbit/s, each over one second.
        for (rid, bps) in [("q", 150_000u64), ("h", 500_000), ("f", 1_500_000)] {
            r.add(rid.into(), 0, t0);
            r.add(rid.into(), (bps / 8) as usize, t0 + WINDOW);
        }
        r
    }

    #[test]
    fn the_layer_follows_the_estimate() {
        let r = rates();
        assert_eq!(
            r.choose(100_000),
            Some("q".into()),
            "too little for any: the lowest"
        );
        assert_eq!(r.choose(300_000), Some("q".into()));
        assert_eq!(r.choose(700_000), Some("h".into()));
        assert_eq!(r.choose(2_000_000), Some("f".into()));
        assert_eq!(Rates::default().choose(1_000_000), None);
    }

    #[test]
    fn probing_aims_at_the_next_layer() {
        let r = rates();
        let d = r.desired(Some("q".into())).map(|b| b.as_u64());
        assert!(d.is_some_and(|d| d > 500_000 && d < 700_000), "{d:?}");
        let top = r.desired(Some("f".into())).map(|b| b.as_u64());
        assert!(top.is_some_and(|d| d > 1_500_000), "{top:?}");
    }

    /// A classroom on the low layer whose estimate rises keeps the low layer
    /// (and asks for a keyframe of the high one) until that keyframe comes;
    /// from then on only the high layer is forwarded to it.
    #[test]
    fn a_classroom_moves_up_on_a_keyframe_of_the_new_layer() {
        let r = rates();
        let mut s = Subscriber::new(None);
        let (q, f): (Rid, Rid) = ("q".into(), "f".into());
        assert_eq!(s.on_frame(Some(q), false, 300_000, &r), Step::Ask(Some(q)));
        assert_eq!(s.on_frame(Some(q), true, 300_000, &r), Step::Switched);
        assert_eq!(s.layer, Some(q));
        assert!(s.forwards(Some(q)) && !s.forwards(Some(f)));
        // The estimate rises: a delta frame of f cannot start a picture.
        assert_eq!(
            s.on_frame(Some(f), false, 2_000_000, &r),
            Step::Ask(Some(f))
        );
        assert_eq!(
            s.on_frame(Some(q), false, 2_000_000, &r),
            Step::Ask(Some(f))
        );
        assert!(
            s.forwards(Some(q)),
            "q still flows while f's keyframe is awaited"
        );
        assert_eq!(s.on_frame(Some(f), true, 2_000_000, &r), Step::Switched);
        assert!(s.forwards(Some(f)) && !s.forwards(Some(q)));
        assert_eq!(s.on_frame(Some(f), false, 2_000_000, &r), Step::Stay);
        // And back down when the estimate falls.
        assert_eq!(s.on_frame(Some(q), false, 300_000, &r), Step::Ask(Some(q)));
        assert_eq!(s.on_frame(Some(q), true, 300_000, &r), Step::Switched);
    }

    #[test]
    fn a_pinned_classroom_gets_its_layer_whatever_the_estimate() {
        let r = rates();
        let f: Rid = "f".into();
        let mut s = Subscriber::new(Some(f));
        assert_eq!(s.want(100_000, &r), Some(f));
        assert_eq!(s.on_frame(Some(f), true, 100_000, &r), Step::Switched);
        // A pin to a layer the teacher does not send falls back to the estimate.
        let s = Subscriber::new(Some("x".into()));
        assert_eq!(s.want(700_000, &r), Some("h".into()));
    }

    /// While the screen is shared, the camera gets what is left of the
    /// estimate after the screen (the caller subtracts the meter's rate).
    #[test]
    fn the_screen_rate_is_measured_per_window() {
        let mut m = Meter::default();
        let t0 = Instant::now();
        m.add(0, t0);
        m.add(50_000, t0 + WINDOW / 2);
        assert_eq!(m.bps(), 0, "not a whole window yet");
        m.add(50_000, t0 + WINDOW);
        assert_eq!(m.bps(), 800_000);
        let r = rates();
        assert_eq!(r.choose(1_200_000), Some("h".into()));
        assert_eq!(r.choose(1_200_000 - m.bps()), Some("q".into()));
        m.reset();
        assert_eq!(m.bps(), 0);
    }

    #[test]
    fn without_simulcast_a_newcomer_waits_for_one_keyframe() {
        let r = Rates::default();
        let mut s = Subscriber::new(None);
        assert_eq!(s.on_frame(None, false, 300_000, &r), Step::Ask(None));
        assert_eq!(s.on_frame(None, false, 300_000, &r), Step::Stay);
        assert!(s.forwards(None));
    }
}
