//! The scheduled pull inside `serve`: every `pull_every_secs`, each configured
//! channel is pulled from the upstream, only within `pull_hours` when set
//! (e.g. `"22-6"`: school nights). On a village node the channels are the
//! ones its village's school subscribes to on the hub, pulled from the hub with
//! the node's credential. A pull that the hours end is paused with its
//! progress kept and resumes in the next window.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::{Options, PullError, Source};
use crate::School;

/// Parse `"22-6"` into (22, 6); hours 0..=23.
pub fn parse_hours(s: &str) -> Option<(u32, u32)> {
    let (a, b) = s.split_once('-')?;
    let (a, b) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
    (a < 24 && b < 24).then_some((a, b))
}

/// The hour of day in China time.
fn china_hour() -> u32 {
    let ms = cunlink_core::time::now_ms() + 8 * 3_600_000;
    ((ms / 3_600_000).rem_euclid(24)) as u32
}

/// Whether `hour` is within `[from, to)`, wrapping over midnight.
pub fn hour_in(hour: u32, (from, to): (u32, u32)) -> bool {
    if from == to {
        true
    } else if from < to {
        (from..to).contains(&hour)
    } else {
        hour >= from || hour < to
    }
}

/// [`Options::allowed`] for the configured hours.
pub fn in_hours(o: &Options) -> bool {
    o.hours.is_none_or(|h| hour_in(china_hour(), h))
}

/// Where the scheduled pull takes channels from, and which.
enum Upstream {
    /// A village node: its hub, with the node's own credential; the channels
    /// its village's school subscribes to (they come down with the node sync).
    Node { village_id: i64 },
    /// `school.upstream` with `school.channels`.
    Configured,
}

pub fn spawn(school: Arc<School>, mut shutdown: watch::Receiver<bool>) {
    let s = school.settings.clone();
    let hours = s.pull_hours.as_deref().and_then(parse_hours);
    if s.pull_hours.is_some() && hours.is_none() {
        tracing::error!(hours = ?s.pull_hours, "school.pull_hours must look like \"22-6\"; pulling at any hour");
    }
    let every = Duration::from_secs(s.pull_every_secs.max(60));
    tokio::spawn(async move {
        let node = school
            .db
            .call(|c| cunlink_core::sync::node_self(c).map_err(cunlink_core::DbError::from))
            .await;
        let node = match node {
            Ok(n) => n,
            Err(e) => {
                tracing::error!(error = %e, "school pull: cannot read the node identity");
                return;
            }
        };
        let (url, token, upstream) = match (node, s.upstream.clone(), s.upstream_token.clone()) {
            (Some(n), _, _) => (
                n.hub,
                n.credential,
                Upstream::Node {
                    village_id: n.village_id,
                },
            ),
            (None, Some(url), Some(token)) => (url, token, Upstream::Configured),
            _ => return,
        };
        loop {
            let opts = Options {
                hours,
                ..Options::default()
            };
            if (opts.allowed)(&opts) {
                // The subscribed (or configured) channels, and the materials
                // of classes in the next day's timetable.
                let mut channels = match upstream {
                    Upstream::Configured => s.channels.clone(),
                    Upstream::Node { village_id } => school
                        .db
                        .call(move |c| {
                            crate::subscriptions_of(c, village_id)
                                .map_err(cunlink_core::DbError::from)
                        })
                        .await
                        .unwrap_or_default(),
                };
                let due = school
                    .db
                    .call(|c| {
                        crate::pairings::due_channels(
                            c,
                            cunlink_core::time::now_ms(),
                            cunlink_core::time::DAY_MS,
                        )
                        .map_err(cunlink_core::DbError::from)
                    })
                    .await
                    .unwrap_or_default();
                for d in due {
                    if !channels.contains(&d) {
                        channels.push(d);
                    }
                }
                for &ch in &channels {
                    let mut src = match Source::open(&url, &token) {
                        Ok(src) => src,
                        Err(e) => {
                            tracing::error!(error = %e, "school pull: bad upstream");
                            return;
                        }
                    };
                    let mut quiet = |_: super::Event| {};
                    let run = super::run(
                        &school.db,
                        &school.content,
                        &mut src,
                        &url,
                        ch,
                        &opts,
                        &mut quiet,
                    );
                    tokio::select! {
                        r = run => match r {
                            Ok(sum) => tracing::info!(channel = ch, files = sum.files, fetched = sum.fetched, "school pull done"),
                            Err(PullError::Paused) => tracing::info!(channel = ch, "school pull paused until the pull hours"),
                            Err(e) => tracing::warn!(channel = ch, error = %e, "school pull failed; will retry"),
                        },
                        _ = shutdown.changed() => return,
                    }
                }
            }
            // Outside the hours, look again in ten minutes. New subscriptions
            // (a node's came down) start a round at once.
            let wait = if (opts.allowed)(&opts) {
                every
            } else {
                Duration::from_secs(600).min(every)
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = school.pull_wake.notified() => {}
                _ = shutdown.changed() => return,
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hours() {
        assert_eq!(parse_hours("22-6"), Some((22, 6)));
        assert_eq!(parse_hours("25-6"), None);
        assert!(hour_in(23, (22, 6)));
        assert!(hour_in(2, (22, 6)));
        assert!(!hour_in(12, (22, 6)));
        assert!(hour_in(9, (8, 17)));
        assert!(!hour_in(17, (8, 17)));
    }
}
