//! Vital signs: the keys a consult accepts, their LOINC codes and UCUM units
//! (for FHIR), plausible ranges, and the latest readings of a clinic's
//! `vitals` devices (farm devices of that profile in the patient's village,
//! e.g. on the asset "卫生室"), offered in the consult form.

use std::collections::BTreeMap;

use cunlink_farm::Farm;
use serde::Serialize;

/// One kind of vital sign.
#[derive(Debug, Clone, Copy)]
pub struct Vital {
    /// The telemetry key and the `vitals` object's key.
    pub key: &'static str,
    pub loinc: &'static str,
    pub display: &'static str,
    /// UCUM code and its human form.
    pub unit: &'static str,
    pub min: f64,
    pub max: f64,
}

/// Keys a consult takes. Ranges refuse typing slips (a temperature of 365),
/// not unusual patients.
pub const VITALS: &[Vital] = &[
    Vital { key: "systolic", loinc: "8480-6", display: "Systolic blood pressure", unit: "mm[Hg]", min: 40.0, max: 300.0 },
    Vital { key: "diastolic", loinc: "8462-4", display: "Diastolic blood pressure", unit: "mm[Hg]", min: 20.0, max: 200.0 },
    Vital { key: "heart_rate", loinc: "8867-4", display: "Heart rate", unit: "/min", min: 20.0, max: 300.0 },
    Vital { key: "temperature", loinc: "8310-5", display: "Body temperature", unit: "Cel", min: 30.0, max: 45.0 },
    Vital { key: "spo2", loinc: "59408-5", display: "Oxygen saturation in Arterial blood by Pulse oximetry", unit: "%", min: 50.0, max: 100.0 },
    Vital { key: "respiratory_rate", loinc: "9279-1", display: "Respiratory rate", unit: "/min", min: 4.0, max: 80.0 },
    Vital { key: "weight", loinc: "29463-7", display: "Body weight", unit: "kg", min: 0.5, max: 400.0 },
    Vital { key: "glucose", loinc: "15074-8", display: "Glucose [Moles/volume] in Blood", unit: "mmol/L", min: 0.5, max: 50.0 },
];

pub fn vital(key: &str) -> Option<&'static Vital> {
    VITALS.iter().find(|v| v.key == key)
}

/// A device's reading offered for a consult.
#[derive(Debug, Clone, Serialize)]
pub struct Offered {
    pub key: &'static str,
    pub value: f64,
    pub device: String,
    pub ts: i64,
}

/// Readings older than this are not offered: they belong to an earlier patient.
pub const FRESH_MS: i64 = 30 * 60 * 1000;

/// The latest fresh reading of each vital key from the `vitals` devices of
/// `village_id` (newest wins when two devices report the same key).
pub fn offered(farm: &Farm, village_id: i64, now: i64) -> Vec<Offered> {
    let mut best: BTreeMap<&'static str, Offered> = BTreeMap::new();
    for d in farm.registry.all() {
        if d.profile != "vitals" || d.village_id != Some(village_id) {
            continue;
        }
        for (key, ts, value) in farm.telemetry.store().latest(d.id) {
            let (Some(v), cunlink_farm::telemetry::Value::Num(num)) = (vital(&key), value) else {
                continue;
            };
            if now.saturating_sub(ts) > FRESH_MS || num < v.min || num > v.max {
                continue;
            }
            if best.get(v.key).is_none_or(|o| o.ts < ts) {
                best.insert(v.key, Offered { key: v.key, value: num, device: d.name.clone(), ts });
            }
        }
    }
    best.into_values().collect()
}
