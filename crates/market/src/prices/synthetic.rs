//! Synthetic price history, for the demo village and the benchmark: common
//! produce names (and qualified variants of them), random-walk prices that hold
//! for a few days at a time, written straight into the packed layout.

use cunlink_core::sql::Connection;

use super::history::{self, PERIOD_DAYS};
use crate::error::MarketError;
use crate::store;

/// Common produce and their usual unit and price (fen).
pub const BASES: &[(&str, &str, i64)] = &[
    ("苹果", "kg", 850),
    ("梨", "kg", 600),
    ("茶叶", "500g", 9800),
    ("龙井茶", "500g", 12800),
    ("猪肉", "kg", 2600),
    ("大米", "kg", 560),
    ("玉米", "kg", 280),
    ("土豆", "kg", 300),
    ("白菜", "kg", 180),
    ("柑橘", "kg", 700),
    ("香菇", "kg", 1800),
    ("鸡蛋", "kg", 1000),
    ("西红柿", "kg", 500),
    ("黄瓜", "kg", 400),
    ("茄子", "kg", 450),
    ("辣椒", "kg", 600),
    ("大葱", "kg", 350),
    ("大蒜", "kg", 800),
    ("生姜", "kg", 900),
    ("胡萝卜", "kg", 300),
    ("萝卜", "kg", 200),
    ("南瓜", "kg", 250),
    ("冬瓜", "kg", 150),
    ("芹菜", "kg", 400),
    ("菠菜", "kg", 500),
    ("韭菜", "kg", 600),
    ("豆角", "kg", 700),
    ("长豆角", "kg", 750),
    ("花生", "kg", 1200),
    ("黄豆", "kg", 650),
    ("绿豆", "kg", 900),
    ("红薯", "kg", 300),
    ("山药", "kg", 800),
    ("莲藕", "kg", 700),
    ("西瓜", "kg", 300),
    ("葡萄", "kg", 1200),
    ("桃子", "kg", 900),
    ("香蕉", "kg", 600),
    ("橙子", "kg", 800),
    ("柚子", "kg", 500),
    ("猕猴桃", "kg", 1500),
    ("草莓", "kg", 2500),
    ("樱桃", "kg", 4000),
    ("板栗", "kg", 1600),
    ("核桃", "kg", 3000),
    ("红枣", "kg", 2000),
    ("蜂蜜", "500g", 5000),
    ("牛肉", "kg", 7800),
    ("羊肉", "kg", 7200),
    ("鸡肉", "kg", 2000),
    ("鸭肉", "kg", 1800),
    ("草鱼", "kg", 1600),
    ("鲫鱼", "kg", 2200),
    ("小麦", "kg", 280),
    ("面粉", "kg", 400),
    ("菜籽油", "L", 1800),
    ("木耳", "500g", 3500),
    ("竹笋", "kg", 1000),
    ("豆腐", "kg", 600),
    ("芝麻", "kg", 2400),
];

const QUALIFIERS: &[&str] = &[
    "", "有机", "土", "本地", "精品", "特级", "新", "小", "大", "红", "白", "黄", "野生", "高山",
    "散装", "农家", "优质", "冷藏", "鲜", "干",
];

/// `n` distinct commodity names: the common ones first, then qualified ones.
pub fn commodity_names(n: usize) -> Vec<(String, &'static str, i64)> {
    let mut out = Vec::with_capacity(n);
    'outer: for q in QUALIFIERS {
        for (name, unit, price) in BASES {
            if out.len() >= n {
                break 'outer;
            }
            out.push((format!("{q}{name}"), *unit, *price));
        }
    }
    let mut k = 2;
    while out.len() < n {
        let (name, unit, price) = BASES[out.len() % BASES.len()];
        out.push((format!("{name}{k}号"), unit, price));
        k += 1;
    }
    out
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Write `commodities` × `markets` series of `days` days ending today, in one
/// transaction. Markets are named `name_of(i)`. Returns the number of prices.
pub fn generate(
    conn: &mut Connection,
    commodities: &[(String, &str, i64)],
    markets: &[String],
    days: i64,
) -> Result<u64, MarketError> {
    let last = super::today();
    let first = last - days + 1;
    let tx = conn.transaction()?;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut c_ids = Vec::new();
    for (name, unit, _) in commodities {
        c_ids.push(store::prices::ensure_commodity(&tx, name, unit)?);
    }
    let mut m_ids = Vec::new();
    for m in markets {
        m_ids.push(store::prices::ensure_market(&tx, m)?);
    }
    let mut total = 0u64;
    {
        let mut bulk = store::prices::Bulk::new(&tx)?;
        for (ci, (_, unit, base)) in commodities.iter().enumerate() {
            for &m in &m_ids {
                let mut price = (*base as f64 * (0.8 + (rng.next() % 400) as f64 / 1000.0)) as i64;
                let mut period = first.div_euclid(PERIOD_DAYS);
                let mut pts: Vec<(u16, i64)> = Vec::with_capacity(366);
                for day in first..=last {
                    let p = day.div_euclid(PERIOD_DAYS);
                    if p != period {
                        bulk.history(c_ids[ci], m, period, &history::encode(&pts))?;
                        pts.clear();
                        period = p;
                    }
                    // Prices hold for a few days, then move a few percent.
                    let r = rng.next();
                    if r % 4 == 0 {
                        let step = (price / 30).max(1);
                        price = (price + ((r >> 8) % 3) as i64 * step - step).max(1);
                    }
                    pts.push((day.rem_euclid(PERIOD_DAYS) as u16, price));
                    total += 1;
                }
                bulk.history(c_ids[ci], m, period, &history::encode(&pts))?;
                bulk.today(c_ids[ci], m, last, price, unit)?;
            }
        }
    }
    tx.commit()?;
    Ok(total)
}
