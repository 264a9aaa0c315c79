//! One helper per route on [`TestApp`], shared by the test files (zero2prod's
//! `spawn_app` style): each sends the request the way a real client does and
//! hands the answer back unchecked, so every test keeps its own assertions.

use serde_json::{Value, json};

use crate::common::{Resp, TestApp, request};

impl TestApp {
    /// `POST /api/v1/{token}/telemetry`: a device's readings.
    pub async fn telemetry(&self, token: &str, body: impl Into<Vec<u8>>) -> Resp {
        self.post(&format!("/api/v1/{token}/telemetry"), body).await
    }

    /// `POST /api/v1/{token}/gateway/telemetry`: readings a gateway forwards.
    pub async fn gateway_telemetry(&self, token: &str, body: impl Into<Vec<u8>>) -> Resp {
        self.post(&format!("/api/v1/{token}/gateway/telemetry"), body)
            .await
    }

    /// `POST /api/devices` as the caller of `token`.
    pub async fn create_device(&self, token: &str, body: Value) -> (u16, Value) {
        self.post_json("/api/devices", token, body).await
    }

    /// `POST /api/rules` as the caller of `token`.
    pub async fn create_rule(&self, token: &str, body: Value) -> (u16, Value) {
        self.post_json("/api/rules", token, body).await
    }

    /// `POST /api/market/orders` as the caller of `token`.
    pub async fn place_order(&self, token: &str, body: Value) -> (u16, Value) {
        self.post_json("/api/market/orders", token, body).await
    }

    /// `POST /api/login` with a JSON body; the answer carries the session
    /// cookie and the CSRF token.
    pub async fn api_login(&self, username: &str, password: &str) -> Resp {
        request(
            self.http,
            "POST",
            "/api/login",
            &[("content-type", "application/json")],
            json!({ "username": username, "password": password })
                .to_string()
                .into_bytes(),
        )
        .await
    }
}
