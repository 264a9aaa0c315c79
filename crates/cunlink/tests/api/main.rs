//! Integration tests: each starts the real server on random loopback ports
//! (`common::spawn_app`) and speaks real protocols to it.

mod access_matrix;
mod alerts;
mod common;
mod ingest_chirpstack;
mod ingest_http;
mod ingest_mqtt;
mod market;
mod notify;
mod photos;
mod queries;
mod query_props;
mod rpc;
mod storage;
