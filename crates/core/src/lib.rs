//! cunlink core: what every domain shares and nothing more.
//!
//! Configuration, the application database and its migrations runner, accounts
//! (villages, users, roles, sessions, API tokens), the JSON error shape every
//! route answers with, Prometheus metric primitives and time helpers. Domain
//! crates (`farm`, `alert`, `market`, …) depend on this crate; it depends on none
//! of them.

pub mod auth;
pub mod config;
pub mod db;
pub mod error;
pub mod metrics;
pub mod random;
pub mod routes;
pub mod time;
pub mod web;

pub use config::{Config, MarketSettings, NotifyConfig};
pub use db::{Db, DbError, Migration};
pub use error::ApiError;
