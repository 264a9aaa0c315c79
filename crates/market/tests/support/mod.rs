//! A market opened the way the binary opens it (app database with core's and
//! farm's migrations, `Market::open` with its order writer), in a temp
//! directory, driven through the crate's functions without HTTP.

#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::Value;

use cunlink_core::auth::{self, AuthService, Role, User};
use cunlink_core::{Config, Db};
use cunlink_farm::{Farm, FarmDeps};
use cunlink_market::idem::{self, Answer};
use cunlink_market::input::Obj;
use cunlink_market::{Market, MarketConfig, MarketDeps, MarketError, access, catalog, orders};

pub const VILLAGE: &str = "茶香村";

pub struct Shop {
    pub market: Arc<Market>,
    pub auth: AuthService,
    dir: PathBuf,
}

impl Shop {
    pub fn open(tag: &str) -> Shop {
        let mut raw = [0u8; 8];
        cunlink_core::random::fill(&mut raw);
        let dir = std::env::temp_dir().join(format!(
            "cunlink-market-{tag}-{}-{:x}",
            std::process::id(),
            u64::from_le_bytes(raw)
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let config = Config {
            data_dir: dir.clone(),
            ..Config::default()
        };
        let db = Db::open(&config.app_db_path()).expect("open db");
        db.migrate("core", auth::MIGRATIONS).expect("core schema");
        db.migrate("cluster", cunlink_core::cluster::MIGRATIONS)
            .expect("cluster schema");
        db.migrate("sync", cunlink_core::sync::MIGRATIONS)
            .expect("sync schema");
        let auth = AuthService::new(db.clone());
        let farm = Farm::open(
            &config,
            FarmDeps {
                db: db.clone(),
                auth: auth.clone(),
                mqtt_port: 0,
                cluster: cunlink_core::cluster::Cluster::start(db.clone()),
            },
        )
        .expect("farm");
        let market = Market::open_with(
            MarketConfig::default(),
            MarketDeps {
                db,
                auth: auth.clone(),
                farm,
            },
        )
        .expect("market");
        Shop { market, auth, dir }
    }

    pub fn user(&self, name: &str, role: Role, village: Option<&str>) -> User {
        self.auth
            .create_user_blocking(name, "a long enough password", role, village)
            .expect("user")
    }

    pub fn station(&self, village: &str, name: &str) -> i64 {
        let (v, n) = (village.to_string(), name.to_string());
        self.market
            .db
            .call_blocking(move |c| access::create_station(c, &v, &n))
            .expect("station")
    }

    /// A product of `farmer` with one variant; its id.
    pub fn product(&self, farmer: &User, price_fen: i64, stock: i64) -> i64 {
        let body = obj(serde_json::json!({
            "name": "龙井茶", "unit": "500g", "price_fen": price_fen, "stock": stock
        }));
        let f = farmer.clone();
        let v = self
            .market
            .db
            .call_blocking(move |c| catalog::create_product(c, &f, &body))
            .expect("product");
        v["id"].as_i64().expect("product id")
    }

    /// The product as the API shows it (stock summed over variants).
    pub fn product_json(&self, id: i64) -> Value {
        self.market
            .db
            .call_blocking(move |c| catalog::product(c, id))
            .expect("read product")
            .expect("product exists")
    }

    pub fn stock(&self, id: i64) -> i64 {
        self.product_json(id)["stock"].as_i64().expect("stock")
    }

    pub async fn order(
        &self,
        user: &User,
        key: Option<&str>,
        body: Value,
    ) -> Result<Answer, MarketError> {
        place(&self.market, user, key, body).await
    }

    /// Run a statement of the test's own (counting rows to show nothing changed).
    pub fn count(&self, table: &'static str) -> i64 {
        self.market
            .db
            .call_blocking(move |c| {
                c.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
            })
            .map_err(|e: cunlink_core::sql::Error| e)
            .expect("count")
    }
}

impl Drop for Shop {
    fn drop(&mut self) {
        self.market.shutdown();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Place an order as `POST /api/market/orders` does: parse, fingerprint, queue.
pub async fn place(
    market: &Market,
    user: &User,
    key: Option<&str>,
    body: Value,
) -> Result<Answer, MarketError> {
    let body = obj(body);
    let hash = key
        .map(|_| idem::request_hash("orders", &body))
        .unwrap_or_default();
    let req = orders::place::parse(user, &body)?;
    market
        .place(user.id, key.map(str::to_string), hash, req)
        .await
}

pub fn obj(v: Value) -> Obj {
    v.as_object().expect("a JSON object").clone()
}

/// An order body of one line.
pub fn one_line(station: i64, product: i64, quantity: i64) -> Value {
    serde_json::json!({
        "pickup_station_id": station,
        "items": [{"product_id": product, "quantity": quantity}]
    })
}

/// The field a refusal names.
pub fn field(e: &MarketError) -> Option<&str> {
    match e {
        MarketError::Invalid { field, .. } | MarketError::Conflict { field, .. } => {
            field.as_deref()
        }
        _ => None,
    }
}

pub fn code(e: &MarketError) -> Option<&'static str> {
    match e {
        MarketError::Invalid { code, .. } | MarketError::Conflict { code, .. } => Some(code),
        _ => None,
    }
}
