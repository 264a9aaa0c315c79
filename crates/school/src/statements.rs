//! Learning statements.

use std::sync::Arc;

use crate::School;

pub fn spawn_sender(_school: Arc<School>, _shutdown: tokio::sync::watch::Receiver<bool>) {}
