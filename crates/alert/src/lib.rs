//! The alert domain: early-warning rules, their streaming evaluation over the
//! farm's committed readings, the alarm lifecycle and notifications.
//!
//! * [`rule`]: rules as data (threshold with duration, AND/OR, rate of change,
//!   silence, herd fever) and their validation.
//! * [`engine`]: per-(rule, device) state in memory, fed by the farm's
//!   post-commit bus, rebuilt from history at start.
//! * [`alarms`]: one open alarm per (rule, device), acknowledge, assign,
//!   comment, clear, escalation.
//! * [`notify`]: the outbox, Web Push (VAPID, RFC 8291), webhooks, preferences.
//! * [`routes`]: `/api/rules`, `/api/alarms`, notification settings.
//! * `domain`: [`Alerts`] as a [`cunlink_web::Domain`] (its strings, nav entries,
//!   page and board sections, routes).
//! * [`error`]: alert's errors and their one mapping each to HTTP answers.

pub mod alarms;
mod domain;
pub mod engine;
pub mod error;
pub mod notify;
pub mod pages;
pub mod routes;
pub mod rule;
pub mod store;
pub mod sync;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use cunlink_core::Db;
use cunlink_core::auth::AuthService;
use cunlink_farm::Farm;
use tokio::sync::{mpsc, watch};

use alarms::Alarms;
pub use domain::AlertDeps;
use engine::EngineHandle;
pub use error::{AlertError, AlertStoreError};
use notify::Notifier;
use rule::Target;

/// The alert domain, running.
pub struct Alerts {
    pub db: Db,
    pub auth: AuthService,
    pub farm: Arc<Farm>,
    pub alarms: Arc<Alarms>,
    pub notifier: Arc<Notifier>,
    pub engine: EngineHandle,
    /// The engine and the alarm writer's events until `start_tasks` runs them.
    tasks: Mutex<Option<(engine::Ready, mpsc::UnboundedReceiver<engine::Event>)>>,
}

impl Alerts {
    /// Apply the schema, load the VAPID key and open alarms, and subscribe the
    /// engine to the farm's bus; [`Alerts::start_tasks`] (the domain's
    /// `spawn_background`) starts the engine, the alarm writer, the dispatcher
    /// and the escalation timer.
    pub fn open(config: &cunlink_core::Config, deps: AlertDeps) -> Result<Arc<Alerts>, AlertError> {
        let AlertDeps { db, auth, farm } = deps;
        let notify = &config.notify;
        let vapid_subject = notify.vapid_subject.clone();
        let policy = notify::net::Policy::from_config(notify).map_err(AlertError::Config)?;
        db.migrate("alert", store::MIGRATIONS)?;
        let notifier = Arc::new(Notifier::open(
            db.clone(),
            auth.clone(),
            vapid_subject,
            policy,
        )?);
        let alarms = Alarms::open(db.clone(), farm.clone(), notifier.clone())?;
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let (engine, ready) = engine::prepare(farm.clone(), db.clone(), events_tx);
        Ok(Arc::new(Alerts {
            db,
            auth,
            farm,
            alarms,
            notifier,
            engine,
            tasks: Mutex::new(Some((ready, events_rx))),
        }))
    }

    /// Start the engine, the alarm writer, the dispatcher and the escalation
    /// timer; they stop when `shutdown` turns true. Only the first call starts them.
    pub fn start_tasks(&self, shutdown: watch::Receiver<bool>) {
        let tasks = self.tasks.lock().unwrap_or_else(|p| p.into_inner()).take();
        let Some((ready, events_rx)) = tasks else {
            return;
        };
        ready.spawn(shutdown.clone());
        self.alarms.spawn_writer(events_rx, shutdown.clone());
        self.alarms.spawn_escalation(shutdown.clone());
        self.notifier.spawn(shutdown);
    }

    /// The `NotifyUsers` port for other domains (see `notify/users.rs`).
    pub fn notify_users(&self) -> Arc<dyn cunlink_core::notify::NotifyUsers> {
        self.notifier.clone()
    }

    pub fn routes(self: &Arc<Self>) -> cunlink_core::routes::Routes {
        routes::routes(self.clone())
    }

    /// Store a rule (already checked by the caller) and start evaluating it.
    pub async fn add_rule(
        &self,
        input: rule::RuleInput,
        village_id: Option<i64>,
        by: i64,
    ) -> Result<rule::Rule, AlertError> {
        let row_input = input.clone();
        let rule = self
            .db
            .call(move |c| {
                store::insert_rule(
                    c,
                    &store::RuleRow {
                        name: row_input.name.trim(),
                        village_id,
                        severity: row_input.severity,
                        target: &row_input.target,
                        condition: &row_input.condition,
                        action: row_input.action.as_ref(),
                        escalate: row_input.escalate.as_ref(),
                        auto_clear: row_input.auto_clear,
                        enabled: row_input.enabled,
                    },
                    by,
                    cunlink_core::time::now_ms(),
                )
            })
            .await?;
        self.engine.reload();
        Ok(rule)
    }

    pub fn render_metrics(&self, out: &mut String) {
        self.engine.metrics.render(out);
        self.alarms.metrics.render(out);
        self.notifier.render_metrics(out);
    }

    /// What a rule's target names, checked against the farm within `scope`:
    /// how many devices it matches now and every key they (or their profiles)
    /// report. Nothing outside the scope is counted or named.
    pub async fn target_keys(
        &self,
        target: &Target,
        scope: Scope,
    ) -> Result<TargetKeys, AlertError> {
        let profiles = self.farm.profiles().await?;
        let assets = self.farm.assets().await?;
        let mut out = TargetKeys::default();
        match target {
            Target::Profile(p) => {
                let Some(profile) = profiles.iter().find(|x| x.name == *p) else {
                    return Ok(out);
                };
                out.exists = true;
                out.keys.extend(profile.keys.iter().map(|k| k.key.clone()));
            }
            Target::Asset(a) => {
                out.exists = assets
                    .iter()
                    .any(|x| x.name == *a && scope.includes(x.village_id))
            }
            Target::AssetKind(k) => {
                out.exists = k.parse::<cunlink_farm::model::AssetKind>().is_ok()
            }
            Target::Device(name) => {
                // Registered a moment ago on another node: read it through to
                // the database so the registry below knows it.
                let _ = self.farm.registry.by_name(name).await;
            }
        }
        let view = engine::world::FarmView::new(profiles, assets);
        let store = self.farm.telemetry.store();
        let mut profiles_seen: BTreeSet<String> = BTreeSet::new();
        let mut key_ids = std::collections::HashSet::new();
        {
            // One pass over the devices with the latest-values map held for
            // reading: a rule on a whole asset kind may match thousands.
            let matcher = view.matcher(target);
            let mem = store.mem();
            for device in self.farm.registry.all() {
                if !scope.includes(device.village_id) {
                    continue;
                }
                let gateway = device.gateway_id.and_then(|g| self.farm.registry.get(g));
                if !matcher.matches(&device, gateway.as_deref()) {
                    continue;
                }
                out.exists = true;
                out.devices += 1;
                if profiles_seen.insert(device.profile.clone()) {
                    out.keys.extend(view.profile_keys(&device.profile));
                }
                if let Some(latest) = mem.latest.get(&device.id) {
                    key_ids.extend(latest.iter().map(|l| l.key));
                }
            }
        }
        out.keys.extend(
            key_ids
                .into_iter()
                .filter_map(|k| store.keys.name(k))
                .map(|k| k.to_string()),
        );
        Ok(out)
    }
}

/// Whose devices and assets a lookup may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Every village: admin and county staff, county-wide rules.
    County,
    /// One village's only; `Village(None)`: only county-level ones (a user
    /// who belongs to no village must not see every village's).
    Village(Option<i64>),
}

impl Scope {
    /// What `user` may look up.
    pub fn of(user: &cunlink_core::auth::User) -> Scope {
        if user.role.is_county_wide() {
            Scope::County
        } else {
            Scope::Village(user.village_id)
        }
    }

    pub fn includes(self, village_id: Option<i64>) -> bool {
        match self {
            Scope::County => true,
            Scope::Village(v) => v == village_id,
        }
    }
}

/// See [`Alerts::target_keys`].
#[derive(Debug, Default)]
pub struct TargetKeys {
    /// The device, asset, profile or asset kind exists.
    pub exists: bool,
    pub devices: usize,
    pub keys: BTreeSet<String>,
}
