//! The SFU thread: reads the UDP socket, drives every session's `Rtc`, and
//! forwards media between the sessions of one live class.
//!
//! Screen sharing: the teacher's second video transceiver carries the screen
//! (one layer) to each classroom's second video transceiver. Whether the
//! teacher shares is said on the data channel every page opens ([`SCREEN_ON`],
//! [`SCREEN_OFF`]): the teacher's page sends it, the SFU keeps it per class
//! and tells every classroom (and a classroom joining later), and says
//! [`SCREEN_OFF`] itself when the teacher's session ends.

use std::collections::{HashMap, VecDeque};
use std::io::ErrorKind;
use std::net::UdpSocket;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, TryRecvError};
use std::time::{Duration, Instant};

use str0m::bwe::{Bitrate, BweKind};
use str0m::channel::ChannelId;
use str0m::media::{Direction, KeyframeRequestKind, MediaData, MediaKind, Mid, Rid};
use str0m::net::{Protocol, Receive};
use str0m::{Event, IceConnectionState, Input, Output, Rtc};

use super::layer::{Meter, Rates, Step, Subscriber};
use super::{CLASSROOMS, Command, Join, MAX_ROOMS, Role, SfuError, SfuMetrics};

/// Events waiting to be forwarded; beyond this they are dropped and counted.
pub(crate) const EVENT_QUEUE: usize = 1024;
/// At most one keyframe request per layer of the teacher in this time.
const KEYFRAME_EVERY: Duration = Duration::from_millis(500);
/// A session whose ICE has not connected this long after joining is ended: a
/// browser that answered but never sent STUN would otherwise hold its
/// classroom slot forever, and later joins of that classroom would get 409.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// The data-channel message that the teacher shares the screen (both ways).
pub const SCREEN_ON: &[u8] = b"screen:on";
/// The data-channel message that the teacher stopped sharing.
pub const SCREEN_OFF: &[u8] = b"screen:off";

struct Session {
    room: String,
    user: i64,
    role: Role,
    rtc: Rtc,
    // The teacher's transceivers (the first video is the camera, the second the screen).
    video_in: Option<Mid>,
    screen_in: Option<Mid>,
    audio_in: Option<Mid>,
    slots: Vec<Mid>,
    // A classroom's transceivers and forwarding state.
    video_out: Option<Mid>,
    screen_out: Option<Mid>,
    audio_io: Option<Mid>,
    slot: Option<usize>,
    camera: Subscriber,
    screen: Subscriber,
    estimate: u64,
    /// The data channel the page opened (screen on/off messages).
    channel: Option<ChannelId>,
    /// When the session was admitted, and whether its ICE ever connected.
    joined: Instant,
    connected: bool,
}

/// One of the teacher's video tracks: the camera (a layer of it) or the screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Track {
    Camera(Option<Rid>),
    Screen,
}

/// What one session's output asks of the others.
enum Forward {
    Teacher(String, MediaData),
    Classroom(String, usize, MediaData),
    /// A classroom lost its picture: the teacher should send a keyframe of that track.
    Keyframe(String, Track),
    /// The teacher said it shares the screen (or stopped).
    Screen(String, bool),
    /// A classroom's data channel opened: tell it whether the screen is shared.
    Hello(String, i64),
}

#[derive(Default)]
struct Room {
    rates: Rates,
    /// When a keyframe of each track was last asked of the teacher.
    asked: HashMap<Track, Instant>,
    /// Whether the teacher shares the screen.
    screen: bool,
    /// The screen's rate: while it is shared, a classroom's camera layer is
    /// chosen from what is left of its estimate.
    screen_rate: Meter,
}

pub(crate) fn run(socket: UdpSocket, rx: Receiver<Command>, m: Arc<SfuMetrics>) {
    let local = match socket.local_addr() {
        Ok(a) => a,
        Err(e) => return tracing::error!("SFU socket: {e}"),
    };
    let mut sessions: Vec<Session> = Vec::new();
    let mut rooms: HashMap<String, Room> = HashMap::new();
    let mut queue: VecDeque<Forward> = VecDeque::new();
    let mut buf = vec![0u8; 2000];
    loop {
        // Commands from the web handlers.
        loop {
            match rx.try_recv() {
                Ok(Command::Join(j)) => admit(&mut sessions, &mut rooms, *j),
                Ok(Command::CloseRoom(r)) => {
                    for s in sessions.iter_mut().filter(|s| s.room == r) {
                        s.rtc.disconnect();
                    }
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => return,
            }
        }
        teachers_gone(&mut sessions, &mut rooms);
        sessions.retain(|s| s.rtc.is_alive());
        rooms.retain(|r, _| sessions.iter().any(|s| &s.room == r));
        m.sessions.set(sessions.len() as u64);
        m.rooms.set(rooms.len() as u64);

        // Drive every session until it only waits, forwarding what it produced.
        let mut deadline = Instant::now() + Duration::from_millis(100);
        loop {
            for s in sessions.iter_mut() {
                deadline = deadline.min(poll(s, &socket, &mut queue, &m));
            }
            if queue.is_empty() {
                break;
            }
            while let Some(f) = queue.pop_front() {
                forward(f, &mut sessions, &mut rooms, &m);
            }
        }

        let wait = deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1));
        if socket.set_read_timeout(Some(wait)).is_err() {
            return;
        }
        match socket.recv_from(&mut buf) {
            Ok((n, source)) => {
                let Some(data) = buf.get(..n) else { continue };
                let Ok(contents) = data.try_into() else {
                    continue;
                };
                let input = Input::Receive(
                    Instant::now(),
                    Receive {
                        proto: Protocol::Udp,
                        source,
                        destination: local,
                        contents,
                    },
                );
                if let Some(s) = sessions.iter_mut().find(|s| s.rtc.accepts(&input))
                    && let Err(e) = s.rtc.handle_input(input)
                {
                    tracing::debug!(user = s.user, "SFU session ended: {e}");
                    s.rtc.disconnect();
                }
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => tracing::warn!("SFU socket read: {e}"),
        }
        let now = Instant::now();
        for s in sessions.iter_mut() {
            if s.rtc.is_alive() && s.rtc.handle_input(Input::Timeout(now)).is_err() {
                s.rtc.disconnect();
            }
            if never_connected(s.connected, s.joined, now) {
                tracing::debug!(user = s.user, "SFU session never connected; ended");
                s.rtc.disconnect();
            }
        }
    }
}

/// A class whose teacher's session ended no longer shows the screen.
fn teachers_gone(sessions: &mut [Session], rooms: &mut HashMap<String, Room>) {
    let gone: Vec<String> = sessions
        .iter()
        .filter(|s| s.role == Role::Teacher && !s.rtc.is_alive())
        .map(|s| s.room.clone())
        .collect();
    for room in gone {
        if let Some(r) = rooms.get_mut(&room)
            && std::mem::take(&mut r.screen)
        {
            tell_classrooms(sessions, &room, SCREEN_OFF);
        }
    }
}

/// Send `msg` on the data channel of every classroom of `room`.
fn tell_classrooms(sessions: &mut [Session], room: &str, msg: &[u8]) {
    for c in sessions
        .iter_mut()
        .filter(|s| s.room == room && s.role == Role::Classroom)
    {
        say(c, msg);
    }
}

/// Send `msg` on `s`'s data channel, if open (a full channel loses it; the
/// next change or a rejoin says it again).
fn say(s: &mut Session, msg: &[u8]) {
    if let Some(id) = s.channel
        && let Some(mut ch) = s.rtc.channel(id)
    {
        let _ = ch.write(false, msg);
    }
}

/// Whether a session admitted at `joined` and not yet connected is overdue.
fn never_connected(connected: bool, joined: Instant, now: Instant) -> bool {
    !connected && now.saturating_duration_since(joined) > CONNECT_TIMEOUT
}

fn admit(sessions: &mut Vec<Session>, rooms: &mut HashMap<String, Room>, j: Join) {
    let Join {
        room,
        user,
        role,
        rtc,
        pin,
        reply,
    } = j;
    // A reload replaces the user's earlier session in this class.
    for s in sessions
        .iter_mut()
        .filter(|s| s.room == room && s.user == user)
    {
        s.rtc.disconnect();
    }
    // A teacher's reload ends a share: the new page starts without one.
    teachers_gone(sessions, rooms);
    sessions.retain(|s| s.rtc.is_alive());
    if !rooms.contains_key(&room) && rooms.len() >= MAX_ROOMS {
        let _ = reply.send(Err(SfuError::Busy));
        return;
    }
    let mut slot = None;
    if role == Role::Classroom {
        let taken: Vec<usize> = sessions
            .iter()
            .filter(|s| s.room == room)
            .filter_map(|s| s.slot)
            .collect();
        slot = (0..CLASSROOMS).find(|i| !taken.contains(i));
        if slot.is_none() {
            let _ = reply.send(Err(SfuError::Full));
            return;
        }
    }
    if role == Role::Teacher
        && sessions
            .iter()
            .any(|s| s.room == room && s.role == Role::Teacher)
    {
        // One teacher per class; another teacher account is not this class's.
        let _ = reply.send(Err(SfuError::Full));
        return;
    }
    rooms.entry(room.clone()).or_default();
    sessions.push(Session {
        room,
        user,
        role,
        rtc,
        video_in: None,
        screen_in: None,
        audio_in: None,
        slots: Vec::new(),
        video_out: None,
        screen_out: None,
        audio_io: None,
        slot,
        camera: Subscriber::new(pin),
        screen: Subscriber::new(None),
        estimate: super::layer::START.as_u64(),
        channel: None,
        joined: Instant::now(),
        connected: false,
    });
    let _ = reply.send(Ok(()));
}

/// Poll `s` until it only waits; answers when it next needs time.
fn poll(
    s: &mut Session,
    socket: &UdpSocket,
    queue: &mut VecDeque<Forward>,
    m: &SfuMetrics,
) -> Instant {
    loop {
        if !s.rtc.is_alive() {
            return Instant::now();
        }
        let out = match s.rtc.poll_output() {
            Ok(o) => o,
            Err(e) => {
                tracing::debug!(user = s.user, "SFU session failed: {e}");
                s.rtc.disconnect();
                return Instant::now();
            }
        };
        let ev = match out {
            Output::Timeout(t) => return t,
            Output::Transmit(t) => {
                // UDP: a full send buffer loses the packet, as the network would.
                if socket.send_to(&t.contents, t.destination).is_err() {
                    m.dropped.inc();
                }
                continue;
            }
            Output::Event(ev) => ev,
        };
        let fwd = match ev {
            Event::IceConnectionStateChange(IceConnectionState::Disconnected) => {
                s.rtc.disconnect();
                None
            }
            Event::IceConnectionStateChange(
                IceConnectionState::Connected | IceConnectionState::Completed,
            ) => {
                s.connected = true;
                None
            }
            Event::MediaAdded(a) => {
                learn(s, a.mid, a.kind, a.direction);
                None
            }
            Event::MediaData(d) => match s.role {
                Role::Teacher => Some(Forward::Teacher(s.room.clone(), d)),
                Role::Classroom => s.slot.map(|i| Forward::Classroom(s.room.clone(), i, d)),
            },
            Event::KeyframeRequest(r)
                if s.role == Role::Classroom && Some(r.mid) == s.video_out =>
            {
                Some(Forward::Keyframe(
                    s.room.clone(),
                    Track::Camera(s.camera.layer),
                ))
            }
            Event::KeyframeRequest(r)
                if s.role == Role::Classroom && Some(r.mid) == s.screen_out =>
            {
                Some(Forward::Keyframe(s.room.clone(), Track::Screen))
            }
            Event::ChannelOpen(id, _) => {
                s.channel.get_or_insert(id);
                (s.role == Role::Classroom).then(|| Forward::Hello(s.room.clone(), s.user))
            }
            Event::ChannelData(d) if s.role == Role::Teacher && Some(d.id) == s.channel => {
                match d.data.as_slice() {
                    SCREEN_ON => Some(Forward::Screen(s.room.clone(), true)),
                    SCREEN_OFF => Some(Forward::Screen(s.room.clone(), false)),
                    _ => None,
                }
            }
            Event::ChannelClose(id) if Some(id) == s.channel => {
                s.channel = None;
                None
            }
            Event::EgressBitrateEstimate(BweKind::Twcc { estimate, .. })
            | Event::EgressBitrateEstimate(BweKind::Remb { estimate, .. }) => {
                s.estimate = estimate.as_u64();
                None
            }
            _ => None,
        };
        if let Some(f) = fwd {
            if queue.len() >= super::run::EVENT_QUEUE {
                m.dropped.inc();
            } else {
                queue.push_back(f);
            }
        }
    }
}

/// Note what a negotiated transceiver is for (directions are the server's).
fn learn(s: &mut Session, mid: Mid, kind: MediaKind, dir: Direction) {
    match (s.role, kind, dir) {
        (Role::Teacher, MediaKind::Video, Direction::RecvOnly | Direction::SendRecv) => {
            if s.video_in.is_none() {
                s.video_in = Some(mid);
            } else {
                s.screen_in.get_or_insert(mid);
            }
        }
        (Role::Teacher, MediaKind::Audio, Direction::RecvOnly | Direction::SendRecv) => {
            s.audio_in.get_or_insert(mid);
        }
        (Role::Teacher, MediaKind::Audio, Direction::SendOnly) => s.slots.push(mid),
        (Role::Classroom, MediaKind::Video, Direction::SendOnly | Direction::SendRecv) => {
            if s.video_out.is_none() {
                s.video_out = Some(mid);
            } else {
                s.screen_out.get_or_insert(mid);
            }
        }
        (Role::Classroom, MediaKind::Audio, _) => {
            s.audio_io.get_or_insert(mid);
        }
        _ => {}
    }
}

fn forward(
    f: Forward,
    sessions: &mut [Session],
    rooms: &mut HashMap<String, Room>,
    m: &SfuMetrics,
) {
    match f {
        Forward::Teacher(room, d) => {
            let Some(r) = rooms.get_mut(&room) else {
                return;
            };
            let (camera, screen) = sessions
                .iter()
                .find(|s| s.room == room && s.role == Role::Teacher)
                .map(|t| (t.video_in, t.screen_in))
                .unwrap_or_default();
            if Some(d.mid) == camera {
                if let Some(rid) = d.rid {
                    r.rates.add(rid, d.data.len(), Instant::now());
                }
                let mut ask: Vec<Track> = Vec::new();
                for c in sessions
                    .iter_mut()
                    .filter(|s| s.room == room && s.role == Role::Classroom)
                {
                    let before = c.camera.layer;
                    let screen_bps = if r.screen { r.screen_rate.bps() } else { 0 };
                    let left = c.estimate.saturating_sub(screen_bps);
                    match c.camera.on_frame(d.rid, d.is_keyframe(), left, &r.rates) {
                        Step::Stay => {}
                        Step::Switched => {
                            if before.is_some() {
                                m.layer_switches.inc();
                            }
                            if let Some(b) = r.rates.desired(c.camera.layer) {
                                let b = Bitrate::bps(b.as_u64().saturating_add(screen_bps));
                                c.rtc.bwe().set_desired_bitrate(b);
                            }
                        }
                        Step::Ask(rid) => ask.push(Track::Camera(rid)),
                    }
                    if c.camera.forwards(d.rid)
                        && let Some(mid) = c.video_out
                    {
                        write(&mut c.rtc, mid, &d, m);
                    }
                }
                for t in ask {
                    keyframe(sessions, r, &room, t);
                }
            } else if Some(d.mid) == screen {
                if !r.screen {
                    // Frames in flight after the teacher said "off" (or before
                    // "on"): a classroom showing the camera has no use for them.
                    return;
                }
                r.screen_rate.add(d.data.len(), Instant::now());
                let mut ask = false;
                for c in sessions
                    .iter_mut()
                    .filter(|s| s.room == room && s.role == Role::Classroom)
                {
                    let Some(mid) = c.screen_out else { continue };
                    if let Step::Ask(_) = c.screen.on_frame(None, d.is_keyframe(), 0, &r.rates) {
                        ask = true;
                    }
                    write(&mut c.rtc, mid, &d, m);
                }
                if ask {
                    keyframe(sessions, r, &room, Track::Screen);
                }
            } else {
                for c in sessions
                    .iter_mut()
                    .filter(|s| s.room == room && s.role == Role::Classroom)
                {
                    if let Some(mid) = c.audio_io {
                        write(&mut c.rtc, mid, &d, m);
                    }
                }
            }
        }
        Forward::Classroom(room, slot, d) => {
            if let Some(t) = sessions
                .iter_mut()
                .find(|s| s.room == room && s.role == Role::Teacher)
                && let Some(&mid) = t.slots.get(slot)
            {
                write(&mut t.rtc, mid, &d, m);
            }
        }
        Forward::Keyframe(room, t) => {
            if let Some(r) = rooms.get_mut(&room) {
                keyframe(sessions, r, &room, t);
            }
        }
        Forward::Screen(room, on) => {
            let Some(r) = rooms.get_mut(&room) else {
                return;
            };
            if r.screen == on {
                return;
            }
            r.screen = on;
            r.screen_rate.reset();
            if on {
                // Every classroom starts the screen on a keyframe.
                for c in sessions.iter_mut().filter(|s| s.room == room) {
                    c.screen.wants_keyframe = true;
                }
                r.asked.remove(&Track::Screen);
                keyframe(sessions, r, &room, Track::Screen);
            }
            tell_classrooms(sessions, &room, if on { SCREEN_ON } else { SCREEN_OFF });
        }
        Forward::Hello(room, user) => {
            let on = rooms.get(&room).is_some_and(|r| r.screen);
            if let Some(c) = sessions
                .iter_mut()
                .find(|s| s.room == room && s.user == user && s.role == Role::Classroom)
            {
                say(c, if on { SCREEN_ON } else { SCREEN_OFF });
            }
        }
    }
}

/// Ask the teacher for a keyframe of `track`, at most every [`KEYFRAME_EVERY`].
fn keyframe(sessions: &mut [Session], r: &mut Room, room: &str, track: Track) {
    let now = Instant::now();
    if r.asked
        .get(&track)
        .is_some_and(|t| now.saturating_duration_since(*t) < KEYFRAME_EVERY)
    {
        return;
    }
    r.asked.insert(track, now);
    if let Some(t) = sessions
        .iter_mut()
        .find(|s| s.room == room && s.role == Role::Teacher)
    {
        let (mid, rid) = match track {
            Track::Camera(rid) => (t.video_in, rid),
            Track::Screen => (t.screen_in, None),
        };
        if let Some(mid) = mid
            && let Some(mut w) = t.rtc.writer(mid)
        {
            let _ = w.request_keyframe(rid, KeyframeRequestKind::Pli);
        }
    }
}

fn write(rtc: &mut Rtc, mid: Mid, d: &MediaData, m: &SfuMetrics) {
    let Some(w) = rtc.writer(mid) else { return };
    let Some(pt) = w.match_params(d.params) else {
        m.dropped.inc();
        return;
    };
    match w.write(pt, d.network_time, d.time, d.data.clone()) {
        Ok(()) => {
            m.forwarded.inc();
            m.forwarded_bytes.add(d.data.len() as u64);
        }
        Err(_) => m.dropped.inc(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_that_never_connects_is_overdue_after_the_timeout() {
        let t0 = Instant::now();
        let later = t0 + CONNECT_TIMEOUT + Duration::from_millis(1);
        assert!(!never_connected(false, t0, t0 + CONNECT_TIMEOUT));
        assert!(never_connected(false, t0, later));
        assert!(!never_connected(true, t0, later));
    }
}
