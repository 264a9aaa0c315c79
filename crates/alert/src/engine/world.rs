//! Which rules watch which device, with key names resolved to the telemetry
//! store's key ids so that evaluation compares integers.

use std::collections::HashMap;
use std::sync::Arc;

use cunlink_farm::model::{Asset, Device, Profile};
use cunlink_farm::telemetry::KeyId;

use crate::rule::{Condition, Rule, Target};

/// What the engine knows about a device.
#[derive(Debug, Clone)]
pub struct DeviceInfo {
    pub device: Arc<Device>,
    /// The asset it (or, failing that, its gateway) is on: for animals, the pen.
    pub pen: Option<i64>,
    pub pen_name: Option<String>,
    pub asset_kind: Option<String>,
    pub reporting_interval_s: u32,
    pub measures_core_temp: bool,
}

/// Farm facts the matching needs, loaded together.
#[derive(Default)]
pub struct FarmView {
    pub profiles: HashMap<String, Profile>,
    pub assets: HashMap<i64, Asset>,
}

impl FarmView {
    pub fn new(profiles: Vec<Profile>, assets: Vec<Asset>) -> FarmView {
        FarmView {
            profiles: profiles.into_iter().map(|p| (p.name.clone(), p)).collect(),
            assets: assets.into_iter().map(|a| (a.id, a)).collect(),
        }
    }

    pub fn describe(&self, device: Arc<Device>, gateway: Option<&Device>) -> DeviceInfo {
        let pen = device.asset_id.or_else(|| gateway.and_then(|g| g.asset_id));
        let profile = self.profiles.get(&device.profile);
        DeviceInfo {
            pen,
            pen_name: self.asset_name(pen).map(str::to_string),
            asset_kind: pen
                .and_then(|id| self.assets.get(&id))
                .map(|a| a.kind.as_str().to_string()),
            reporting_interval_s: profile.map_or(60, |p| p.reporting_interval_s),
            measures_core_temp: profile.is_some_and(|p| p.measures_core_temp),
            device,
        }
    }

    fn asset_name(&self, id: Option<i64>) -> Option<&str> {
        id.and_then(|i| self.assets.get(&i))
            .map(|a| a.name.as_str())
    }

    /// Whether `rule` watches the device described by `info`.
    pub fn matches(&self, rule: &Rule, info: &DeviceInfo) -> bool {
        if !rule.enabled {
            return false;
        }
        if rule.village_id.is_some() && rule.village_id != info.device.village_id {
            return false;
        }
        target_matches(&rule.target, info)
    }

    /// A matcher for `target` that needs no allocation per device (pages ask
    /// it of every device in the county).
    pub fn matcher<'a>(&self, target: &'a Target) -> TargetMatcher<'a> {
        match target {
            Target::Device(n) => TargetMatcher::Name(n),
            Target::Profile(p) => TargetMatcher::Profile(p),
            Target::Asset(name) => TargetMatcher::Pens(
                self.assets
                    .values()
                    .filter(|a| a.name == *name)
                    .map(|a| a.id)
                    .collect(),
            ),
            Target::AssetKind(k) => TargetMatcher::Pens(
                self.assets
                    .values()
                    .filter(|a| a.kind.as_str() == k)
                    .map(|a| a.id)
                    .collect(),
            ),
        }
    }

    pub fn profile_keys(&self, profile: &str) -> Vec<String> {
        self.profiles
            .get(profile)
            .map(|p| p.keys.iter().map(|k| k.key.clone()).collect())
            .unwrap_or_default()
    }
}

fn target_matches(target: &Target, info: &DeviceInfo) -> bool {
    if info.device.is_gateway && !matches!(target, Target::Device(_)) {
        // A gateway's own health is watched only when a rule names it.
        return false;
    }
    match target {
        Target::Device(name) => info.device.name == *name,
        Target::Asset(name) => info.pen_name.as_deref() == Some(name.as_str()),
        Target::Profile(p) => info.device.profile == *p,
        Target::AssetKind(k) => info.asset_kind.as_deref() == Some(k.as_str()),
    }
}

/// A rule with its keys resolved.
#[derive(Debug)]
pub struct Compiled {
    pub rule: Arc<Rule>,
    /// Key ids in the order of [`Condition::keys`].
    pub keys: Vec<KeyId>,
}

impl Compiled {
    pub fn new(rule: Arc<Rule>, intern: impl Fn(&str) -> KeyId) -> Compiled {
        let keys = rule.condition.keys().into_iter().map(intern).collect();
        Compiled { rule, keys }
    }

    pub fn is_silence(&self) -> bool {
        matches!(self.rule.condition, Condition::Silence { .. })
    }

    /// How long the silence rule waits for `info`'s device, ms. `intervals` ×
    /// the profile's reporting interval is capped at the 7 days a rule may
    /// watch (both numbers come from users; their product must not wrap).
    pub fn silence_ms(&self, info: &DeviceInfo) -> Option<i64> {
        match self.rule.condition {
            Condition::Silence { after_s, intervals } => Some(match after_s {
                Some(s) => i64::from(s) * 1000,
                None => i64::from(intervals.unwrap_or(3))
                    .saturating_mul(i64::from(info.reporting_interval_s))
                    .saturating_mul(1000)
                    .min(MAX_WATCH_MS),
            }),
            _ => None,
        }
    }

    /// History a restart must re-read to rebuild this rule's state, ms.
    pub fn lookback_ms(&self, info: &DeviceInfo) -> i64 {
        let interval = i64::from(info.reporting_interval_s).saturating_mul(1000);
        let s = |v: u32| i64::from(v) * 1000;
        match &self.rule.condition {
            Condition::Threshold { for_s, .. } => {
                s(*for_s).saturating_add(interval.saturating_mul(2))
            }
            Condition::Rate { within_s, .. } => s(*within_s).saturating_add(interval),
            Condition::Silence { .. } => 0,
            Condition::HerdFever(h) => (i64::from(h.baseline_days) * 24 * 3600 * 1000
                + (i64::from(h.window_min) + 15) * 60_000
                + s(h.for_s))
            .saturating_add(interval.saturating_mul(2)),
        }
    }
}

/// The longest a rule may watch (`rule::MAX_SECONDS`), ms.
const MAX_WATCH_MS: i64 = crate::rule::MAX_SECONDS as i64 * 1000;

/// See [`FarmView::matcher`]; agrees with the engine's matching.
pub enum TargetMatcher<'a> {
    Name(&'a str),
    Profile(&'a str),
    /// Asset ids a device's pen must be one of.
    Pens(std::collections::HashSet<i64>),
}

impl TargetMatcher<'_> {
    pub fn matches(&self, device: &Device, gateway: Option<&Device>) -> bool {
        if device.is_gateway && !matches!(self, TargetMatcher::Name(_)) {
            return false;
        }
        match self {
            TargetMatcher::Name(n) => device.name == *n,
            TargetMatcher::Profile(p) => device.profile == *p,
            TargetMatcher::Pens(ids) => device
                .asset_id
                .or_else(|| gateway.and_then(|g| g.asset_id))
                .is_some_and(|a| ids.contains(&a)),
        }
    }
}
