//! Ingest: every way a reading enters cunlink, funnelled into one path.
//!
//! ```text
//! HTTP device API ─┐
//! MQTT ────────────┤→ payload parse + validate → Prepared → Telemetry::enqueue → ack after commit
//! ChirpStack ──────┘
//! ```
//! Parsing and device resolution happen on the caller's task (spread over all
//! cores); only the commit is serialised. A message is all or nothing: any error
//! in it means nothing of it is queued.

pub mod chirpstack;
pub mod http;
pub mod json;
pub mod mqtt;
pub mod payload;

use std::sync::Arc;

use crate::FarmStoreError;
use crate::model::Device;
use crate::registry::Registry;
use crate::telemetry::{Attribute, DeviceId, Reading, Telemetry, WriteError};
use payload::{PayloadError, Point};

/// What a message carries, by ThingsBoard topic or URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Telemetry,
    Attributes,
    GatewayTelemetry,
    GatewayAttributes,
}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error(transparent)]
    Payload(#[from] PayloadError),
    #[error("unknown or revoked device access token")]
    UnknownToken,
    #[error("device '{0}' is not a gateway; register it with --gateway to use the gateway API")]
    NotAGateway(String),
    #[error(
        "no device is registered with DevEUI {0}; register it with `cunlink device create --dev-eui`"
    )]
    UnknownDevEui(String),
    #[error(transparent)]
    Write(#[from] WriteError),
    #[error(transparent)]
    Store(#[from] FarmStoreError),
}

/// Readings and attributes ready to be queued.
#[derive(Default)]
pub struct Prepared {
    pub readings: Vec<Reading>,
    pub attributes: Vec<Attribute>,
}

impl Prepared {
    pub fn len(&self) -> usize {
        self.readings.len() + self.attributes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The shared ingest front: device registry + telemetry queue.
#[derive(Clone)]
pub struct Ingest {
    pub telemetry: Arc<Telemetry>,
    pub registry: Arc<Registry>,
    pub rpc: Arc<crate::rpc::Rpc>,
    /// Tokens of network servers (ChirpStack) allowed to post uplinks.
    pub integrations: Arc<crate::integrations::Integrations>,
}

impl Ingest {
    /// Parse and validate a message `device` sent, resolving gateway children.
    pub async fn prepare(
        &self,
        device: &Device,
        kind: Kind,
        body: &[u8],
    ) -> Result<Prepared, IngestError> {
        let now = cunlink_core::time::now_ms();
        let json = payload::parse_json(body)?;
        let mut out = Prepared::default();
        match kind {
            Kind::Telemetry => {
                let mut pts = Vec::new();
                payload::telemetry(json, now, &mut pts)?;
                self.push_readings(&mut out, device.id, pts);
            }
            Kind::Attributes => {
                let mut pts = Vec::new();
                payload::attributes(json, now, &mut pts)?;
                push_attributes(&mut out, device.id, pts);
            }
            Kind::GatewayTelemetry | Kind::GatewayAttributes => {
                if !device.is_gateway {
                    return Err(IngestError::NotAGateway(device.name.clone()));
                }
                let per_device = if kind == Kind::GatewayTelemetry {
                    payload::gateway(json, now, payload::telemetry)?
                } else {
                    payload::gateway(json, now, payload::attributes)?
                };
                let names: Vec<&str> = per_device.iter().map(|(n, _)| n.trim()).collect();
                let children = self.registry.gateway_children(device, &names, None).await?;
                for ((_, pts), child) in per_device.into_iter().zip(children) {
                    if kind == Kind::GatewayTelemetry {
                        self.push_readings(&mut out, child.id, pts);
                    } else {
                        push_attributes(&mut out, child.id, pts);
                    }
                }
            }
        }
        Ok(out)
    }

    /// Readings of `device` from parsed points, with keys interned.
    pub fn push_readings(&self, out: &mut Prepared, device: DeviceId, points: Vec<Point<'_>>) {
        let keys = &self.telemetry.store().keys;
        out.readings.reserve(points.len());
        for p in points {
            out.readings.push(Reading {
                device,
                key: keys.intern(&p.key),
                ts: p.ts,
                value: p.value,
            });
        }
    }

    /// `v1/gateway/connect`: make sure the named device exists under the gateway, of the given type.
    pub async fn gateway_connect(
        &self,
        gateway: &Device,
        body: &[u8],
    ) -> Result<Arc<Device>, IngestError> {
        if !gateway.is_gateway {
            return Err(IngestError::NotAGateway(gateway.name.clone()));
        }
        let json = payload::parse_json(body)?;
        let (name, profile) = payload::gateway_connect(&json)?;
        let mut v = self
            .registry
            .gateway_children(gateway, &[name.trim()], profile)
            .await?;
        v.pop().ok_or(IngestError::UnknownToken)
    }
}

fn push_attributes(out: &mut Prepared, device: DeviceId, points: Vec<Point<'_>>) {
    for p in points {
        out.attributes.push(Attribute {
            device,
            key: p.key.into_owned().into_boxed_str(),
            ts: p.ts,
            value: p.value,
        });
    }
}
