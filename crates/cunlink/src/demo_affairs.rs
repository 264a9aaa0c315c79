//! The demo village's affairs: two officials (村主任 and the accountant) and a
//! villager, a few notices, last month's ledger approved and published, an
//! open vote and a resident's feedback.

use std::sync::Arc;

use anyhow::Context;
use serde_json::{Value, json};

use cunlink_affairs::Affairs;
use cunlink_core::auth::{Role, User};

use crate::demo::VILLAGE;

pub const OFFICIAL: &str = "cunguan";
pub const ACCOUNTANT: &str = "kuaiji";
pub const VILLAGER: &str = "cunmin";
const PASSWORD: &str = "cunlink-demo";

fn obj(v: Value) -> anyhow::Result<cunlink_affairs::input::Obj> {
    v.as_object().cloned().context("demo body is an object")
}

/// Seed once: a second start finds the official and leaves everything be.
pub async fn seed(a: &Arc<Affairs>) -> anyhow::Result<()> {
    let auth = a.auth.clone();
    let users =
        tokio::task::spawn_blocking(move || -> anyhow::Result<Option<(User, User, User)>> {
            if auth.user_by_name_blocking(OFFICIAL).is_ok() {
                return Ok(None);
            }
            let mk = |n: &str, r: Role| auth.create_user_blocking(n, PASSWORD, r, Some(VILLAGE));
            Ok(Some((
                mk(OFFICIAL, Role::VillageOfficial)?,
                mk(ACCOUNTANT, Role::VillageOfficial)?,
                mk(VILLAGER, Role::Villager)?,
            )))
        })
        .await
        .context("demo affairs users")??;
    let Some((off, acct, villager)) = users else {
        return Ok(());
    };
    let e = |e: cunlink_affairs::AffairsError| anyhow::anyhow!("demo affairs: {e}");
    for (title, body, cat) in [
        (
            "村民大会通知",
            "本周六上午九点在村委会召开村民大会，讨论茶园道路硬化，请每户派一人参加。",
            "notice",
        ),
        (
            "新农合缴费提醒",
            "2027年度城乡居民医保缴费已开始，每人380元，可到村委会或用手机缴纳。",
            "policy",
        ),
        (
            "采茶节报名",
            "四月采茶节需要志愿者接待游客，有意者找村会计报名。",
            "event",
        ),
    ] {
        a.create_notice(
            &off,
            obj(json!({"title": title, "body": body, "category": cat}))?,
        )
        .await
        .map_err(e)?;
    }
    // Last month's ledger, approved by both officials and published.
    let now = a.clock.now();
    let last = cunlink_affairs::input::china_month(now - 31 * cunlink_core::time::DAY_MS);
    for (day, item, kind, fen, cat) in [
        ("05", "鱼塘承包费", "income", 1_200_000, "租金"),
        ("12", "茶园道路修补", "spending", 350_000, "道路"),
        ("20", "村委会电费", "spending", 42_050, "办公"),
        ("25", "上级转移支付", "income", 2_000_000, "补助"),
    ] {
        let v = a
            .add_entry(&off, obj(json!({"date": format!("{last}-{day}"), "item": item, "kind": kind, "amount_fen": fen, "category": cat}))?)
            .await
            .map_err(e)?;
        let id = v["id"].as_i64().context("entry id")?;
        a.approve_entry(&off, id).await.map_err(e)?;
        a.approve_entry(&acct, id).await.map_err(e)?;
    }
    a.publish_month(&off, last, obj(json!({}))?)
        .await
        .map_err(e)?;
    a.create_vote(
        &off,
        obj(json!({"question": "茶园道路硬化先修哪一段？", "options": ["东坡到加工厂", "村口到茶园"], "closes_at": now + 7 * cunlink_core::time::DAY_MS}))?,
    )
    .await
    .map_err(e)?;
    a.report(
        &villager,
        obj(
            json!({"category": "road", "text": "村口路灯坏了两盏，晚上看不清。", "place": "村口"}),
        )?,
    )
    .await
    .map_err(e)?;
    Ok(())
}
