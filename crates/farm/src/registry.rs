//! Devices by token, name and DevEUI, in memory, so ingest authenticates a
//! device without touching the database.
//!
//! The database stays the source of truth: a miss falls back to it (a device
//! made by `cunlink device create` while the server runs is found at once), and
//! [`Registry::refresh`] reloads changed rows so a rotated token stops working.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use cunlink_core::Db;

use crate::FarmStoreError;
use crate::model::Device;
use crate::store::{self, NewDevice};
use crate::telemetry::DeviceId;

#[derive(Default)]
struct Inner {
    by_id: HashMap<DeviceId, Arc<Device>>,
    by_token: HashMap<String, DeviceId>,
    by_name: HashMap<String, DeviceId>,
    by_eui: HashMap<String, DeviceId>,
    /// `updated_at` high-water mark of rows loaded.
    loaded_until: i64,
}

impl Inner {
    fn put(&mut self, d: Device) -> Arc<Device> {
        if let Some(old) = self.by_id.get(&d.id).cloned() {
            self.by_token.remove(&old.token);
            self.by_name.remove(&old.name);
            if let Some(e) = &old.dev_eui {
                self.by_eui.remove(e);
            }
        }
        let d = Arc::new(d);
        self.by_token.insert(d.token.clone(), d.id);
        self.by_name.insert(d.name.clone(), d.id);
        if let Some(e) = &d.dev_eui {
            self.by_eui.insert(e.clone(), d.id);
        }
        self.by_id.insert(d.id, d.clone());
        d
    }
}

pub struct Registry {
    db: Db,
    inner: RwLock<Inner>,
}

impl Registry {
    pub fn load(db: Db) -> Result<Registry, FarmStoreError> {
        let devices = db.call_blocking(|c| store::all_devices(c))?;
        let mut inner = Inner::default();
        for d in devices {
            inner.put(d);
        }
        inner.loaded_until = cunlink_core::time::now_ms();
        Ok(Registry {
            db,
            inner: RwLock::new(inner),
        })
    }

    /// Load every device anew (a village node after its hub's devices came
    /// down: deleted devices must go too, which [`Registry::refresh`] misses).
    pub fn reload_all(&self) -> Result<(), FarmStoreError> {
        let devices = self.db.call_blocking(|c| store::all_devices(c))?;
        let mut inner = Inner::default();
        for d in devices {
            inner.put(d);
        }
        inner.loaded_until = cunlink_core::time::now_ms();
        *self.write() = inner;
        Ok(())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|p| p.into_inner())
    }

    pub fn get(&self, id: DeviceId) -> Option<Arc<Device>> {
        self.read().by_id.get(&id).cloned()
    }

    pub fn len(&self) -> usize {
        self.read().by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn all(&self) -> Vec<Arc<Device>> {
        let mut v: Vec<_> = self.read().by_id.values().cloned().collect();
        v.sort_by_key(|d| d.id);
        v
    }

    fn cached(&self, column: &str, value: &str) -> Option<Arc<Device>> {
        let r = self.read();
        let id = match column {
            "token" => r.by_token.get(value),
            "name" => r.by_name.get(value),
            _ => r.by_eui.get(value),
        }?;
        r.by_id.get(id).cloned()
    }

    async fn lookup(
        &self,
        column: &'static str,
        value: &str,
    ) -> Result<Option<Arc<Device>>, FarmStoreError> {
        if let Some(d) = self.cached(column, value) {
            return Ok(Some(d));
        }
        let v = value.to_string();
        let found = self
            .db
            .call(move |c| store::device_where(c, column, &v))
            .await?;
        Ok(found.map(|d| self.write().put(d)))
    }

    /// The device an access token belongs to.
    pub async fn by_token(&self, token: &str) -> Result<Option<Arc<Device>>, FarmStoreError> {
        if token.is_empty() || token.len() > 256 {
            return Ok(None);
        }
        self.lookup("token", token).await
    }

    pub async fn by_name(&self, name: &str) -> Result<Option<Arc<Device>>, FarmStoreError> {
        self.lookup("name", name).await
    }

    /// The device registered with a (normalised) DevEUI.
    pub async fn by_dev_eui(&self, eui: &str) -> Result<Option<Arc<Device>>, FarmStoreError> {
        self.lookup("dev_eui", eui).await
    }

    /// Register a device and cache it.
    pub async fn create(&self, new: NewDevice) -> Result<Arc<Device>, FarmStoreError> {
        let d = self.db.call(move |c| store::create_device(c, &new)).await?;
        Ok(self.write().put(d))
    }

    /// Give a device a new token; the old one stops working at once.
    pub async fn rotate_token(&self, name: &str) -> Result<Arc<Device>, FarmStoreError> {
        let n = name.to_string();
        let d = self.db.call(move |c| store::rotate_token(c, &n)).await?;
        Ok(self.write().put(d))
    }

    /// The devices a gateway names, created under it on first sight (as
    /// ThingsBoard does): same asset as the gateway, profile `profile` or `default`.
    /// A name that already belongs to a device is that device only if the device is
    /// this gateway's: a gateway cannot write for devices it does not own.
    pub async fn gateway_children(
        &self,
        gateway: &Device,
        names: &[&str],
        profile: Option<&str>,
    ) -> Result<Vec<Arc<Device>>, FarmStoreError> {
        let out = self.gateway_children_any(gateway, names, profile).await?;
        if let Some(foreign) = out.iter().find(|d| d.gateway_id != Some(gateway.id)) {
            return Err(FarmStoreError::NotGatewayChild {
                device: foreign.name.clone(),
                gateway: gateway.name.clone(),
            });
        }
        Ok(out)
    }

    async fn gateway_children_any(
        &self,
        gateway: &Device,
        names: &[&str],
        profile: Option<&str>,
    ) -> Result<Vec<Arc<Device>>, FarmStoreError> {
        let mut out = Vec::with_capacity(names.len());
        let mut missing = Vec::new();
        {
            let r = self.read();
            for (i, n) in names.iter().enumerate() {
                match r.by_name.get(*n).and_then(|id| r.by_id.get(id)) {
                    Some(d) => out.push(Some(d.clone())),
                    None => {
                        out.push(None);
                        missing.push(i);
                    }
                }
            }
        }
        if !missing.is_empty() {
            let news: Vec<NewDevice> = missing
                .iter()
                .map(|&i| NewDevice {
                    name: names[i].to_string(),
                    profile: profile.map(str::to_string),
                    gateway_id: Some(gateway.id),
                    asset_id: gateway.asset_id,
                    // A gateway's devices live where it lives.
                    village_id: gateway.village_id,
                    county_level: gateway.village_id.is_none(),
                    ..NewDevice::default()
                })
                .collect();
            let made = self
                .db
                .call(move |c| {
                    let mut made = Vec::with_capacity(news.len());
                    for n in &news {
                        // Another gateway (or a concurrent request) may have made it meanwhile.
                        let d = match store::device_where(c, "name", n.name.trim())? {
                            Some(d) => d,
                            None => match store::create_device(c, n) {
                                Ok(d) => d,
                                // Made by another node between the read and the create.
                                Err(FarmStoreError::DeviceExists(_)) => {
                                    store::device_where(c, "name", n.name.trim())?.ok_or_else(
                                        || FarmStoreError::DeviceExists(n.name.clone()),
                                    )?
                                }
                                Err(e) => return Err(e),
                            },
                        };
                        made.push(d);
                    }
                    Ok::<_, FarmStoreError>(made)
                })
                .await?;
            let mut w = self.write();
            for (slot, d) in missing.into_iter().zip(made) {
                out[slot] = Some(w.put(d));
            }
        }
        Ok(out.into_iter().flatten().collect())
    }

    /// Reload devices changed in the database since the last load (CLI edits, other processes).
    pub async fn refresh(&self) -> Result<(), FarmStoreError> {
        // `updated_at` is another process's clock (another node's on PostgreSQL):
        // overlap generously; re-reading a device is harmless.
        let overlap = if self.db.database_url().is_some() {
            10_000
        } else {
            1_000
        };
        let since = self.read().loaded_until - overlap;
        let now = cunlink_core::time::now_ms();
        let changed = self
            .db
            .call(move |c| store::devices_changed_since(c, since))
            .await?;
        let mut w = self.write();
        for d in changed {
            w.put(d);
        }
        w.loaded_until = now;
        Ok(())
    }
}
