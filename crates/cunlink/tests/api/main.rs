//! Integration tests: each starts the real server on random loopback ports
//! (`common::spawn_app`) and speaks real protocols to it.

mod alerts;
mod common;
mod ingest_chirpstack;
mod ingest_http;
mod ingest_mqtt;
mod market;
mod mqtt_limits;
mod notify;
mod photos;
mod queries;
mod rpc;
mod storage;
mod writer_health;
