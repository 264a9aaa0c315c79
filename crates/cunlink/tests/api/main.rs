//! Integration tests: each starts the real server on random loopback ports
//! (`common::spawn_app`) and speaks real protocols to it.

mod access_matrix;
mod accounts_cli;
mod alert_limits;
mod alert_scope;
mod alert_store_retry;
mod alerts;
mod app_routes;
mod backup;
mod board_text;
mod chirpstack_auth;
mod cli_device;
mod common;
mod farm_pages_scope;
mod hostile_queries;
mod ingest_chirpstack;
mod ingest_http;
mod ingest_mqtt;
mod internal_errors;
mod market;
mod market_limits;
mod market_parcels;
mod market_scope;
mod mqtt_limits;
mod notify;
mod notify_ssrf;
mod photos;
mod queries;
mod query_props;
mod rpc;
mod settled;
mod skeletons;
mod storage;
mod village_scope;
mod web_auth;
mod writer_health;
