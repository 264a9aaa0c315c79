//! Integration tests: each starts the real server on random loopback ports
//! (`common::spawn_app`) and speaks real protocols to it.

mod alerts;
mod chirpstack_auth;
mod cli_device;
mod common;
mod farm_pages_scope;
mod hostile_queries;
mod ingest_chirpstack;
mod ingest_http;
mod ingest_mqtt;
mod market;
mod notify;
mod photos;
mod queries;
mod rpc;
mod storage;
mod village_scope;
