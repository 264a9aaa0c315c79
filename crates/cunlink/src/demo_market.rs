//! The demo village's market: a service station in 茶香村, a tea farmer selling
//! 龙井茶 (traced to the tea garden and its sensors) and a few other products,
//! and a month of prices for common produce so the price board has trends.

use std::sync::Arc;

use anyhow::Context;
use serde_json::json;

use cunlink_core::auth::{AuthService, Role, User};
use cunlink_core::time::{DAY_MS, now_ms};
use cunlink_market::Market;
use cunlink_market::prices::synthetic;

use crate::demo::VILLAGE;

pub const FARMER: &str = "chanong";
pub const OPERATOR: &str = "zhanzhang";
pub const BUYER: &str = "maijia";
const PASSWORD: &str = "cunlink-demo";

pub async fn seed(market: &Arc<Market>) -> anyhow::Result<()> {
    let m = market.clone();
    tokio::task::spawn_blocking(move || seed_blocking(&m))
        .await
        .context("demo market task")?
}

fn user(auth: &AuthService, name: &str, role: Role, village: Option<&str>) -> anyhow::Result<User> {
    Ok(auth.create_user_blocking(name, PASSWORD, role, village)?)
}

fn seed_blocking(m: &Market) -> anyhow::Result<()> {
    let seeded =
        m.db.call_blocking(|c| cunlink_market::store::stations::any_in_village_named(c, VILLAGE))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    if seeded {
        return Ok(());
    }
    let farmer = user(&m.auth, FARMER, Role::Farmer, Some(VILLAGE))?;
    user(&m.auth, OPERATOR, Role::StationOperator, Some(VILLAGE))?;
    user(&m.auth, BUYER, Role::Buyer, Some("县城"))?;
    let now = now_ms();
    m.db.call_blocking(|c| -> anyhow::Result<()> {
        let tx = c.transaction()?;
        cunlink_market::access::create_station(&tx, VILLAGE, "茶香村电商服务站").map_err(|e| anyhow::anyhow!("{e}"))?;
        cunlink_market::access::create_station(&tx, "县城", "县城东街驿站").map_err(|e| anyhow::anyhow!("{e}"))?;
        let products = [
            ("龙井茶", "明前龙井，茶香村龙井茶园手工炒制", "500g", 12800, 1000),
            ("高山香菇", "椴木种植，自然晾干", "500g", 3500, 300),
            ("土鸡蛋", "林下散养", "30枚", 4500, 200),
            ("春笋", "当天挖，当天发", "kg", 1200, 150),
        ];
        let mut tea = None;
        for (name, desc, unit, price, stock) in products {
            let body = json!({"name": name, "description": desc, "unit": unit, "price_fen": price, "stock": stock});
            let v = cunlink_market::catalog::create_product(&tx, &farmer, body.as_object().context("object")?).map_err(|e| anyhow::anyhow!("{e}"))?;
            if name == "龙井茶" {
                tea = v["id"].as_i64();
            }
        }
        if let Some(tea) = tea {
            let body = json!({"asset": "龙井茶园", "grown_from": now - 30 * DAY_MS, "harvested_at": now, "product_id": tea, "note": "2025 明前茶"});
            cunlink_market::trace::create_batch(&tx, &farmer, body.as_object().context("object")?).map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        tx.commit()?;
        Ok(())
    })?;
    let names: Vec<(String, &str, i64)> = synthetic::BASES
        .iter()
        .take(20)
        .map(|(n, u, p)| (n.to_string(), *u, *p))
        .collect();
    let markets = vec![
        VILLAGE.to_string(),
        "县城农贸市场".to_string(),
        "镇集市".to_string(),
    ];
    m.db.call_blocking(|c| synthetic::generate(c, &names, &markets, 30))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    m.db.call_blocking(|c| m.prices.reload(c))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    m.db.call_blocking(|c| cunlink_core::audit::record(c, None, "demo.market", "seeded"))?;
    tracing::info!(
        village = VILLAGE,
        farmer = FARMER,
        operator = OPERATOR,
        buyer = BUYER,
        "demo market seeded (password {PASSWORD})"
    );
    Ok(())
}
