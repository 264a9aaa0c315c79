//! A small SFU (selective forwarding unit) for live classes: one teacher
//! publishes camera video (simulcast layers where the browser offers them) and
//! microphone; up to [`CLASSROOMS`] classrooms each receive the teacher's video
//! and voice and send their own voice back to the teacher.
//!
//! The teacher may also share the screen: a second video track, one layer,
//! forwarded to every classroom while the teacher says it shares (see [`run`]:
//! the data channel messages [`SCREEN_ON`] and [`SCREEN_OFF`]).
//!
//! Sans-IO WebRTC is `str0m`; this module owns the IO: one UDP socket
//! ([`SfuConfig::udp`]) shared by every session, served by one thread
//! ([`run`]). The server is ICE-lite with one host candidate, so a browser
//! reaches it when it can reach that address (or through its TURN server).
//!
//! Negotiation is one offer from the browser and one answer, never a
//! renegotiation: the teacher's offer carries its camera (send), its screen
//! (send; no track until it shares), its microphone (send), [`CLASSROOMS`]
//! receive-only audio transceivers, one slot per classroom, and a data
//! channel; a classroom's offer carries two receive-only videos (camera,
//! screen), a two-way audio and a data channel. The first video of an offer
//! is the camera, the second the screen; older pages with one video still
//! work. [`Sfu::join`] turns an offer into the answer (SDP strings).
//!
//! Which simulcast layer a classroom gets follows its estimated bandwidth
//! (str0m's TWCC estimate; see [`layer`]), unless the classroom pinned one
//! ([`Layer`]). Queues are bounded: the join
//! channel ([`JOIN_QUEUE`]) and the events waiting to be forwarded
//! ([`run::EVENT_QUEUE`]); what does not fit is dropped and counted.

mod layer;
pub mod metrics;
mod run;

use std::net::{SocketAddr, UdpSocket};
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Once};
use std::time::Instant;

use str0m::change::SdpOffer;
use str0m::media::Rid;
use str0m::{Candidate, Rtc};

pub use metrics::SfuMetrics;
pub use run::{SCREEN_OFF, SCREEN_ON};

/// Classrooms in one live class (a pairing has one to three rural classes).
pub const CLASSROOMS: usize = 3;
/// Live classes one server holds at once.
pub const MAX_ROOMS: usize = 200;
/// Joins waiting for the SFU thread.
pub const JOIN_QUEUE: usize = 16;
/// Largest SDP offer accepted (a browser's is 5–10 KB).
pub const MAX_OFFER: usize = 64 * 1024;

/// Where the SFU listens.
#[derive(Debug, Clone)]
pub struct SfuConfig {
    /// The UDP address bound and announced as the host candidate; it must be an
    /// address browsers reach (the school's LAN or public address), not 0.0.0.0.
    pub udp: SocketAddr,
}

/// Who a session is in its live class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Teacher,
    Classroom,
}

/// A layer of the teacher's camera a classroom can pin, whatever its estimated
/// bandwidth (a projector on a known-good link; the benchmark). They are the
/// simulcast rids the live page sends: `q` 320×180, `h` 640×360, `f` 1280×720.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layer {
    Low,
    Mid,
    High,
}

impl Layer {
    /// `low`, `mid` or `high`.
    pub fn parse(s: &str) -> Option<Layer> {
        match s {
            "low" => Some(Layer::Low),
            "mid" => Some(Layer::Mid),
            "high" => Some(Layer::High),
            _ => None,
        }
    }

    fn rid(self) -> Rid {
        match self {
            Layer::Low => "q".into(),
            Layer::Mid => "h".into(),
            Layer::High => "f".into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SfuError {
    #[error("the SDP offer cannot be read: {0}")]
    BadOffer(String),
    #[error("the live class is full ({CLASSROOMS} classrooms)")]
    Full,
    #[error("the live-class server is busy, try again")]
    Busy,
    #[error("the live-class server has stopped")]
    Stopped,
}

pub(crate) struct Join {
    room: String,
    user: i64,
    role: Role,
    rtc: Rtc,
    pin: Option<Rid>,
    reply: tokio::sync::oneshot::Sender<Result<(), SfuError>>,
}

pub(crate) enum Command {
    Join(Box<Join>),
    CloseRoom(String),
}

/// The running SFU: its address, its thread's inbox and its figures.
pub struct Sfu {
    addr: SocketAddr,
    tx: SyncSender<Command>,
    metrics: Arc<SfuMetrics>,
}

impl Sfu {
    /// Bind the UDP socket and start the SFU thread (it ends when the [`Sfu`] is dropped).
    pub fn start(config: &SfuConfig) -> std::io::Result<Arc<Sfu>> {
        static CRYPTO: Once = Once::new();
        CRYPTO.call_once(|| str0m::crypto::from_feature_flags().install_process_default());
        let socket = UdpSocket::bind(config.udp)?;
        let addr = socket.local_addr()?;
        let (tx, rx) = sync_channel(JOIN_QUEUE);
        let metrics = Arc::new(SfuMetrics::default());
        let m = metrics.clone();
        std::thread::Builder::new()
            .name("cunlink-sfu".into())
            .spawn(move || run::run(socket, rx, m))?;
        tracing::info!(%addr, "live-class SFU listening (UDP)");
        Ok(Arc::new(Sfu { addr, tx, metrics }))
    }

    /// The UDP address browsers send media to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn metrics(&self) -> &SfuMetrics {
        &self.metrics
    }

    /// Admit `user` to `room` as `role` with the browser's SDP `offer`; answers
    /// the SDP answer. A user already in the room is replaced (a reload).
    /// `pin`: a classroom's fixed camera layer (`None`: by its bandwidth).
    pub async fn join(
        &self,
        room: &str,
        user: i64,
        role: Role,
        offer: &str,
        pin: Option<Layer>,
    ) -> Result<String, SfuError> {
        let reject = |e: SfuError| {
            self.metrics.rejected.inc();
            e
        };
        if offer.len() > MAX_OFFER {
            return Err(reject(SfuError::BadOffer("longer than 64 KiB".into())));
        }
        let offer = SdpOffer::from_sdp_string(offer)
            .map_err(|e| reject(SfuError::BadOffer(e.to_string())))?;
        let mut rtc = Rtc::builder()
            .set_ice_lite(true)
            // Start every classroom low (the low profile); TWCC feedback raises it.
            .enable_bwe(Some(layer::START))
            .build(Instant::now());
        let cand = Candidate::host(self.addr, "udp")
            .map_err(|e| reject(SfuError::BadOffer(e.to_string())))?;
        rtc.add_local_candidate(cand);
        let answer = rtc
            .sdp_api()
            .accept_offer(offer)
            .map_err(|e| reject(SfuError::BadOffer(e.to_string())))?;
        let (reply, wait) = tokio::sync::oneshot::channel();
        let join = Join {
            room: room.to_string(),
            user,
            role,
            rtc,
            pin: pin.map(Layer::rid),
            reply,
        };
        match self.tx.try_send(Command::Join(Box::new(join))) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => return Err(reject(SfuError::Busy)),
            Err(TrySendError::Disconnected(_)) => return Err(SfuError::Stopped),
        }
        match wait.await {
            Ok(Ok(())) => Ok(answer.to_sdp_string()),
            Ok(Err(e)) => Err(reject(e)),
            Err(_) => Err(SfuError::Stopped),
        }
    }

    /// End every session of `room` (the class ended).
    pub fn close_room(&self, room: &str) {
        // Best effort: a full inbox means the thread is behind; sessions then end by ICE timeout.
        let _ = self.tx.try_send(Command::CloseRoom(room.to_string()));
    }
}
