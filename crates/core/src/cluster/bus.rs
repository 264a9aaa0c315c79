//! Messages between the nodes of one deployment: PostgreSQL `LISTEN/NOTIFY`.
//!
//! A node sends with [`notify`] inside the transaction that made the change
//! (PostgreSQL delivers it at commit, never for a rolled-back change), or with
//! [`Bus::publish_blocking`]. Every other node's [`Bus`] hands the payload to
//! its subscribers of that channel; a node never receives its own messages.
//!
//! Delivery is what NOTIFY gives: at most once, in commit order, to nodes
//! connected at the time. The bus carries live views (readings for SSE and the
//! alert engine, device commands to the node holding the device's session);
//! whatever must not be lost is also in a table the receiver can read.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{broadcast, mpsc};

use crate::Db;
use crate::sql::{self, Connection};

/// Separates the sending node from the payload.
const SEP: char = '\u{1f}';
/// PostgreSQL refuses NOTIFY payloads of 8000 bytes or more.
pub const MAX_PAYLOAD: usize = 7900;

/// Send `payload` on `channel` to the other nodes when `conn`'s transaction
/// commits (at once outside a transaction). Nothing on SQLite.
pub fn notify(conn: &Connection, channel: &str, payload: &str) -> Result<(), sql::Error> {
    if !conn.is_postgres() {
        return Ok(());
    }
    if payload.len() > MAX_PAYLOAD {
        return Err(sql::Error::Param(format!(
            "a bus message is {} bytes; the most is {MAX_PAYLOAD}",
            payload.len()
        )));
    }
    let body = format!("{}{SEP}{payload}", super::node_id());
    conn.query_row(
        "SELECT pg_notify($1, $2)",
        sql::params![channel, body],
        |_| Ok(()),
    )
}

/// This node's end of the bus.
pub struct Bus {
    db: Db,
    channels: Mutex<HashMap<String, broadcast::Sender<Arc<str>>>>,
    /// Channels to LISTEN on, sent to the listener task (PostgreSQL only).
    listen: Option<mpsc::UnboundedSender<String>>,
}

impl Bus {
    /// The bus of `db`'s deployment: a listener connection on PostgreSQL
    /// (reconnecting after a loss), nothing to listen to on SQLite.
    pub fn start(db: Db) -> Arc<Bus> {
        let url = db.database_url().map(str::to_string);
        let (tx, rx) = mpsc::unbounded_channel();
        let bus = Arc::new(Bus {
            db,
            channels: Mutex::new(HashMap::new()),
            listen: url.is_some().then_some(tx),
        });
        if let Some(url) = url {
            let weak = Arc::downgrade(&bus);
            sql::io_runtime().spawn(listener(url, weak, rx));
        }
        bus
    }

    /// Messages other nodes send on `channel` from now on.
    pub fn subscribe(&self, channel: &str) -> broadcast::Receiver<Arc<str>> {
        let mut chans = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(tx) = chans.get(channel) {
            return tx.subscribe();
        }
        let (tx, rx) = broadcast::channel(4096);
        chans.insert(channel.to_string(), tx);
        if let Some(l) = &self.listen {
            let _ = l.send(channel.to_string());
        }
        rx
    }

    /// Send at once, on a connection of the pool (not inside a caller's
    /// transaction; prefer [`notify`] there).
    pub fn publish_blocking(&self, channel: &str, payload: &str) -> Result<(), sql::Error> {
        if self.listen.is_none() {
            return Ok(());
        }
        self.db
            .call_blocking(|c| notify(c, channel, payload).map_err(crate::DbError::from))
            .map_err(sql::Error::from)
    }

    /// Send at once from async code (a pool connection on the blocking pool).
    pub async fn publish(&self, channel: &str, payload: String) -> Result<(), sql::Error> {
        if self.listen.is_none() {
            return Ok(());
        }
        let channel = channel.to_string();
        self.db
            .call(move |c| notify(c, &channel, &payload).map_err(crate::DbError::from))
            .await
            .map_err(sql::Error::from)
    }

    fn deliver(&self, channel: &str, body: &str) {
        let Some((from, payload)) = body.split_once(SEP) else {
            return;
        };
        if from == super::node_id() {
            return;
        }
        let chans = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(tx) = chans.get(channel) {
            let _ = tx.send(Arc::from(payload));
        }
    }

    /// Channels subscribed so far (to LISTEN again after a reconnect).
    fn channel_names(&self) -> Vec<String> {
        let chans = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        chans.keys().cloned().collect()
    }
}

fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// Keep a LISTEN connection open while the bus lives; on a loss, reconnect
/// and listen again to every channel.
async fn listener(
    url: String,
    bus: std::sync::Weak<Bus>,
    mut new_channels: mpsc::UnboundedReceiver<String>,
) {
    loop {
        if bus.strong_count() == 0 {
            return;
        }
        match tokio_postgres::connect(&url, tokio_postgres::NoTls).await {
            Ok((client, mut conn)) => {
                let (note_tx, mut note_rx) = mpsc::unbounded_channel();
                let driver = tokio::spawn(async move {
                    loop {
                        match std::future::poll_fn(|cx| conn.poll_message(cx)).await {
                            Some(Ok(tokio_postgres::AsyncMessage::Notification(n))) => {
                                let _ = note_tx
                                    .send((n.channel().to_string(), n.payload().to_string()));
                            }
                            Some(Ok(_)) => {}
                            Some(Err(e)) => {
                                tracing::warn!(error = %e, "bus connection lost");
                                return;
                            }
                            None => return,
                        }
                    }
                });
                let names = match bus.upgrade() {
                    Some(b) => b.channel_names(),
                    None => return,
                };
                let mut ok = true;
                for name in names {
                    if client
                        .batch_execute(&format!("LISTEN {}", quote_ident(&name)))
                        .await
                        .is_err()
                    {
                        ok = false;
                        break;
                    }
                }
                // A LISTEN failed half-way: reconnect. Else deliver until the
                // connection or a later LISTEN fails.
                if ok {
                    loop {
                        tokio::select! {
                            n = note_rx.recv() => match n {
                                Some((channel, body)) => match bus.upgrade() {
                                    Some(b) => b.deliver(&channel, &body),
                                    None => return,
                                },
                                None => break,
                            },
                            c = new_channels.recv() => match c {
                                Some(name) => {
                                    if client.batch_execute(&format!("LISTEN {}", quote_ident(&name))).await.is_err() {
                                        break;
                                    }
                                }
                                None => return,
                            },
                        }
                    }
                }
                driver.abort();
            }
            Err(e) => tracing::warn!(error = %e, "bus cannot connect; retrying"),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
