//! Farm domain types: assets, device profiles, devices.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::telemetry::DeviceId;

/// What an asset is. Devices hang off assets; dashboards group by them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AssetKind {
    /// A tea garden, orchard or crop field.
    Field,
    Greenhouse,
    Barn,
    Pen,
    /// One animal, identified by its ear tag.
    Animal,
    Other,
}

impl AssetKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AssetKind::Field => "field",
            AssetKind::Greenhouse => "greenhouse",
            AssetKind::Barn => "barn",
            AssetKind::Pen => "pen",
            AssetKind::Animal => "animal",
            AssetKind::Other => "other",
        }
    }
}

impl fmt::Display for AssetKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("unknown asset kind '{0}'; expected field, greenhouse, barn, pen, animal or other")]
pub struct UnknownAssetKind(pub String);

impl FromStr for AssetKind {
    type Err = UnknownAssetKind;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "field" | "garden" | "tea-garden" | "tea_garden" | "orchard" => AssetKind::Field,
            "greenhouse" => AssetKind::Greenhouse,
            "barn" => AssetKind::Barn,
            "pen" => AssetKind::Pen,
            "animal" => AssetKind::Animal,
            "other" => AssetKind::Other,
            _ => return Err(UnknownAssetKind(s.to_string())),
        })
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Asset {
    pub id: i64,
    pub name: String,
    pub kind: AssetKind,
    pub village_id: Option<i64>,
    pub parent_id: Option<i64>,
    pub ear_tag: Option<String>,
}

/// What a kind of device reports and how often.
#[derive(Debug, Clone, Serialize)]
pub struct Profile {
    pub id: i64,
    pub name: String,
    pub keys: Vec<ProfileKey>,
    pub reporting_interval_s: u32,
    /// A probe inside the body; ear tags measure skin temperature and say false.
    pub measures_core_temp: bool,
    /// Days raw readings are kept; `None` = forever.
    pub retention_days: Option<u32>,
    /// Days hourly and daily rollups are kept; `None` = forever.
    pub rollup_retention_days: Option<u32>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProfileKey {
    pub key: String,
    #[serde(default)]
    pub unit: String,
    #[serde(default)]
    pub label: String,
}

/// A device as ingest and queries need it; cached in memory by the registry.
#[derive(Debug, Clone, Serialize)]
pub struct Device {
    pub id: DeviceId,
    pub name: String,
    /// Profile name, e.g. `ear-tag`, `soil-probe`, `gateway`.
    #[serde(rename = "type")]
    pub profile: String,
    pub asset_id: Option<i64>,
    pub asset: Option<String>,
    pub village_id: Option<i64>,
    pub gateway_id: Option<DeviceId>,
    pub is_gateway: bool,
    #[serde(skip)]
    pub token: String,
    /// LoRaWAN DevEUI, 16 lowercase hex digits.
    pub dev_eui: Option<String>,
    pub created_at: i64,
}

/// Largest device or asset name accepted.
pub const MAX_NAME_CHARS: usize = 128;

/// Normalise a LoRaWAN DevEUI (16 hex digits, any case, optional separators).
pub fn parse_dev_eui(s: &str) -> Option<String> {
    let hex: String = s
        .chars()
        .filter(|c| !matches!(c, ':' | '-' | ' '))
        .collect::<String>()
        .to_ascii_lowercase();
    (hex.len() == 16 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then_some(hex)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_eui_is_normalised() {
        assert_eq!(
            parse_dev_eui("70B3D57ED0001234").as_deref(),
            Some("70b3d57ed0001234")
        );
        assert_eq!(
            parse_dev_eui("70:b3:d5:7e:d0:00:12:34").as_deref(),
            Some("70b3d57ed0001234")
        );
        assert_eq!(parse_dev_eui("70b3"), None);
        assert_eq!(parse_dev_eui("zzb3d57ed0001234"), None);
    }

    #[test]
    fn asset_kinds_parse() {
        assert_eq!("tea-garden".parse::<AssetKind>().unwrap(), AssetKind::Field);
        assert_eq!("Barn".parse::<AssetKind>().unwrap(), AssetKind::Barn);
        assert!("castle".parse::<AssetKind>().is_err());
    }
}
