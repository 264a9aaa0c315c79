//! cunlink core: what every domain shares and nothing more.
//!
//! Configuration, the application database and its migrations runner, accounts
//! (villages, users, roles, sessions, API tokens), the JSON error shape every
//! route answers with, Prometheus metric primitives and time helpers. Domain
//! crates (`farm`, `alert`, `market`, …) depend on this crate; it depends on none
//! of them.
//!
//! Core owns the accounts tables (`counties`, `villages`, `users`, `api_tokens`,
//! `sessions`, `auth_epoch`) and `audit_log`; no other crate names them in SQL.
//! The contract other domains use instead: [`auth::AuthService`] (async, for
//! routes), the connection-level reads in [`auth`] (`village_name`,
//! `village_names`, `village_id`, `village_list`, `usernames`, `user_exists`,
//! `user_count`, `AuthService::ensure_village`) and [`audit::record`]. Each
//! takes the caller's `&crate::sql::Connection` (a transaction derefs to one),
//! so a domain keeps its own changes and these reads in one transaction. The
//! table map of every crate is docs/tables.md.

pub mod audit;
pub mod auth;
pub mod cluster;
pub mod config;
pub mod db;
pub mod error;
pub mod metrics;
pub mod notify;
pub mod random;
pub mod routes;
pub mod sql;
pub mod sync;
pub mod time;
pub mod web;

pub use config::{Config, MarketSettings, NotifyConfig, SchoolSettings};
pub use db::{Db, DbError, Migration};
pub use error::ApiError;
