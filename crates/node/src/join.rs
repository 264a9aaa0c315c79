//! `cunlink node join`: register this data directory as a village node of a
//! hub, once. The hub answers with the node's id, number and credential; they
//! are stored in `core_node_self`, and from then on `serve` syncs.

use cunlink_core::Db;
use cunlink_core::sync::NodeSelf;
use serde::Deserialize;

use crate::client::HubClient;
use crate::error::NodeError;

#[derive(Deserialize)]
struct Joining {
    node_id: String,
    number: i64,
    credential: String,
    village_id: i64,
    village: String,
}

/// Join `hub` as the node of `village`, authenticated with an admin or
/// county-staff token of the hub. Refuses a data directory that already
/// joined or already has accounts (a node's accounts come from its hub).
pub async fn join(db: &Db, hub: &str, token: &str, village: &str) -> Result<NodeSelf, NodeError> {
    let (joined, users) = db.call_blocking(|c| -> Result<_, NodeError> {
        let joined = cunlink_core::sync::node_self(c)?;
        let users: i64 = c.query_row("SELECT COUNT(*) FROM users", [], |r| r.get(0))?;
        Ok((joined, users))
    })?;
    if let Some(j) = joined {
        return Err(NodeError::Config(format!(
            "this data directory already is node {} of {}",
            j.node_id, j.hub
        )));
    }
    if users > 0 {
        return Err(NodeError::Config(
            "this data directory already has accounts; a village node takes its accounts from the hub, so join with a fresh data directory".into(),
        ));
    }
    let mut client = HubClient::new(hub, token)?;
    let body = serde_json::to_vec(&serde_json::json!({ "village": village })).unwrap_or_default();
    let a = client.post("/api/nodes", "application/json", body).await?;
    if a.status.as_u16() != 201 {
        return Err(NodeError::Hub {
            status: a.status.as_u16(),
            body: String::from_utf8_lossy(&a.body).chars().take(500).collect(),
        });
    }
    let j: Joining = serde_json::from_slice(&a.body).map_err(|e| NodeError::Hub {
        status: 201,
        body: format!("unreadable answer: {e}"),
    })?;
    let me = NodeSelf {
        node_id: j.node_id,
        number: j.number,
        hub: hub.trim_end_matches('/').to_string(),
        credential: j.credential,
        village_id: j.village_id,
        village: j.village,
        joined_at: cunlink_core::time::now_ms(),
    };
    let stored = me.clone();
    db.call_blocking(move |c| {
        cunlink_core::sync::set_node_self(c, &stored).map_err(NodeError::from)
    })?;
    Ok(me)
}
