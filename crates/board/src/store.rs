//! The boards table.

use cunlink_core::sql::{Connection, OptionalExtension, params};

use crate::BoardError;
use cunlink_core::time::now_ms;

/// A board as configured.
#[derive(Debug, Clone)]
pub struct Board {
    pub id: i64,
    pub slug: String,
    pub name: String,
    pub assets: Vec<i64>,
    pub keys: Vec<String>,
    pub rotate_secs: u32,
    pub line_width: usize,
    pub line_count: usize,
}

pub struct NewBoard {
    pub name: String,
    pub assets: Vec<String>,
    pub keys: Vec<String>,
    pub rotate_secs: u32,
    pub line_width: usize,
    pub line_count: usize,
}

/// Slug length: 24 characters of a 57-letter alphabet is about 140 bits.
const SLUG_LEN: usize = 24;

pub fn create(conn: &mut Connection, new: &NewBoard) -> Result<Board, BoardError> {
    if cunlink_core::sync::is_node(conn)? {
        return Err(BoardError::HubOnly);
    }
    let name = new.name.trim();
    if name.is_empty() || name.chars().count() > 64 {
        return Err(BoardError::BadName);
    }
    if new.assets.is_empty() {
        return Err(BoardError::NoAssets);
    }
    if !(8..=200).contains(&new.line_width)
        || !(1..=50).contains(&new.line_count)
        || !(2..=3600).contains(&new.rotate_secs)
    {
        return Err(BoardError::BadLayout);
    }
    let known = cunlink_farm::store::assets(conn)?;
    let mut ids = Vec::new();
    for a in &new.assets {
        let id = known
            .iter()
            .find(|k| k.name == a.trim())
            .map(|k| k.id)
            .ok_or_else(|| BoardError::UnknownAsset(a.clone()))?;
        ids.push(id);
    }
    let slug = cunlink_core::random::token(SLUG_LEN);
    let keys: Vec<String> = new
        .keys
        .iter()
        .map(|k| k.trim().to_string())
        .filter(|k| !k.is_empty())
        .collect();
    conn.execute(
        "INSERT INTO boards (slug, name, assets, keys, rotate_secs, line_width, line_count, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        params![
            slug,
            name,
            serde_json::to_string(&ids).unwrap_or_else(|_| "[]".into()),
            serde_json::to_string(&keys).unwrap_or_else(|_| "[]".into()),
            new.rotate_secs,
            new.line_width as i64,
            new.line_count as i64,
            now_ms()
        ],
    )?;
    by_slug(conn, &slug)?.ok_or(BoardError::NoAssets)
}

pub fn by_slug(conn: &Connection, slug: &str) -> Result<Option<Board>, BoardError> {
    Ok(conn
        .query_row(
            "SELECT id, slug, name, assets, keys, rotate_secs, line_width, line_count FROM boards WHERE slug = $1",
            [slug],
            |r| {
                let assets: String = r.get(3)?;
                let keys: String = r.get(4)?;
                Ok(Board {
                    id: r.get(0)?,
                    slug: r.get(1)?,
                    name: r.get(2)?,
                    assets: serde_json::from_str(&assets).unwrap_or_default(),
                    keys: serde_json::from_str(&keys).unwrap_or_default(),
                    rotate_secs: r.get(5)?,
                    line_width: r.get::<_, i64>(6)? as usize,
                    line_count: r.get::<_, i64>(7)? as usize,
                })
            },
        )
        .optional()?)
}

/// The first board called `name` (the demo finds its board again on restart).
pub fn with_name(conn: &Connection, name: &str) -> Result<Option<Board>, BoardError> {
    let slug: Option<String> = conn
        .query_row(
            "SELECT slug FROM boards WHERE name = $1 ORDER BY id LIMIT 1",
            [name],
            |r| r.get(0),
        )
        .optional()?;
    match slug {
        Some(s) => by_slug(conn, &s),
        None => Ok(None),
    }
}
