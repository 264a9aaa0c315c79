//! The demo village's clinic: 茶香村卫生室 (an asset) with a blood-pressure
//! monitor of profile `vitals`, the village doctor `cunyi`, a county doctor
//! `neike` of 内科, a patient (王秀英, who signs in as `huanzhe`) and her
//! consult waiting in 内科's queue with the monitor's readings.

use std::sync::Arc;

use anyhow::Context;
use serde_json::json;

use cunlink_clinic::Clinic;
use cunlink_core::auth::{AuthService, Role, User};
use cunlink_farm::Farm;
use cunlink_farm::ingest::Kind;
use cunlink_farm::model::AssetKind;
use cunlink_farm::store::NewDevice;
use cunlink_farm::telemetry::Admission;

use crate::demo::VILLAGE;

pub const VILLAGE_DOCTOR: &str = "cunyi";
pub const COUNTY_DOCTOR: &str = "neike";
pub const PATIENT: &str = "huanzhe";
const PASSWORD: &str = "cunlink-demo";
const MONITOR: &str = "卫生室血压计";

pub async fn seed(clinic: &Arc<Clinic>, farm: &Arc<Farm>) -> anyhow::Result<()> {
    let monitor = match farm.registry.by_name(MONITOR).await? {
        Some(d) => d,
        None => {
            farm.registry
                .create(NewDevice {
                    name: MONITOR.into(),
                    profile: Some("vitals".into()),
                    asset: Some("茶香村卫生室".into()),
                    asset_kind: Some(AssetKind::Other),
                    village: Some(VILLAGE.to_string()),
                    ..NewDevice::default()
                })
                .await?
        }
    };
    // A fresh reading at every start, so the consult form offers it.
    let body = json!({"systolic": 148, "diastolic": 92, "heart_rate": 76}).to_string();
    let p = farm.ingest.prepare(&monitor, Kind::Telemetry, body.as_bytes()).await?;
    farm.telemetry.write(p.readings, p.attributes, Admission::Wait).await?;

    let auth = clinic.auth.clone();
    if !auth.users_by_names(vec![VILLAGE_DOCTOR.into()]).await?.is_empty() {
        return Ok(());
    }
    let (vdoc, cdoc, pat) = tokio::task::spawn_blocking(move || -> anyhow::Result<(User, User, User)> {
        let mk = |a: &AuthService, n: &str, r: Role, v: Option<&str>| a.create_user_blocking(n, PASSWORD, r, v);
        Ok((
            mk(&auth, VILLAGE_DOCTOR, Role::Doctor, Some(VILLAGE))?,
            mk(&auth, COUNTY_DOCTOR, Role::Doctor, None)?,
            mk(&auth, PATIENT, Role::Villager, Some(VILLAGE))?,
        ))
    })
    .await
    .context("demo clinic users")??;
    let obj = |v: serde_json::Value| v.as_object().cloned().unwrap_or_default();
    clinic.assign_department(cdoc, "内科".into()).await?;
    let patient = clinic
        .create_patient(&vdoc, obj(json!({"name": "王秀英", "sex": "female", "birth_date": "1958-03-02",
            "village": VILLAGE, "phone": "138 0571 0001", "user": pat.username})))
        .await?;
    clinic
        .open_consult(&vdoc, obj(json!({"patient_id": patient["id"], "department": "内科",
            "complaint": "头晕、胸闷三天，早上明显", "vitals": {"systolic": {"value": 148, "device": MONITOR},
            "diastolic": {"value": 92, "device": MONITOR}, "heart_rate": 76}})))
        .await?;
    tracing::info!(village_doctor = VILLAGE_DOCTOR, county_doctor = COUNTY_DOCTOR, patient = PATIENT, "demo clinic seeded");
    Ok(())
}
