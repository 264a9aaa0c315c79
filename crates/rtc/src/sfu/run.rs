//! The SFU thread: reads the UDP socket, drives every session's `Rtc`, and
//! forwards media between the sessions of one live class.

use std::collections::{HashMap, VecDeque};
use std::io::ErrorKind;
use std::net::UdpSocket;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, TryRecvError};
use std::time::{Duration, Instant};

use str0m::bwe::BweKind;
use str0m::media::{Direction, KeyframeRequestKind, MediaData, MediaKind, Mid, Rid};
use str0m::net::{Protocol, Receive};
use str0m::{Event, IceConnectionState, Input, Output, Rtc};

use super::layer::Rates;
use super::{CLASSROOMS, Command, Join, MAX_ROOMS, Role, SfuError, SfuMetrics};

/// Events waiting to be forwarded; beyond this they are dropped and counted.
pub(crate) const EVENT_QUEUE: usize = 1024;
/// At most one keyframe request per layer of the teacher in this time.
const KEYFRAME_EVERY: Duration = Duration::from_millis(500);
/// A session whose ICE has not connected this long after joining is ended: a
/// browser that answered but never sent STUN would otherwise hold its
/// classroom slot forever, and later joins of that classroom would get 409.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

struct Session {
    room: String,
    user: i64,
    role: Role,
    rtc: Rtc,
    // The teacher's transceivers.
    video_in: Option<Mid>,
    audio_in: Option<Mid>,
    slots: Vec<Mid>,
    // A classroom's transceivers and forwarding state.
    video_out: Option<Mid>,
    audio_io: Option<Mid>,
    slot: Option<usize>,
    layer: Option<Rid>,
    estimate: u64,
    wants_keyframe: bool,
    /// When the session was admitted, and whether its ICE ever connected.
    joined: Instant,
    connected: bool,
}

/// What one session's output asks of the others.
enum Forward {
    Teacher(String, MediaData),
    Classroom(String, usize, MediaData),
    /// A classroom lost its picture: the teacher should send a keyframe of its layer.
    Keyframe(String, Option<Rid>),
}

#[derive(Default)]
struct Room {
    rates: Rates,
    /// When a keyframe of each layer was last asked of the teacher.
    asked: HashMap<Option<Rid>, Instant>,
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
        reply,
    } = j;
    // A reload replaces the user's earlier session in this class.
    for s in sessions
        .iter_mut()
        .filter(|s| s.room == room && s.user == user)
    {
        s.rtc.disconnect();
    }
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
        audio_in: None,
        slots: Vec::new(),
        video_out: None,
        audio_io: None,
        slot,
        layer: None,
        estimate: super::layer::START.as_u64(),
        wants_keyframe: true,
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
                Some(Forward::Keyframe(s.room.clone(), s.layer))
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
            s.video_in.get_or_insert(mid);
        }
        (Role::Teacher, MediaKind::Audio, Direction::RecvOnly | Direction::SendRecv) => {
            s.audio_in.get_or_insert(mid);
        }
        (Role::Teacher, MediaKind::Audio, Direction::SendOnly) => s.slots.push(mid),
        (Role::Classroom, MediaKind::Video, Direction::SendOnly | Direction::SendRecv) => {
            s.video_out.get_or_insert(mid);
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
            let teacher_video = sessions
                .iter()
                .find(|s| s.room == room && s.role == Role::Teacher)
                .and_then(|t| t.video_in);
            if Some(d.mid) == teacher_video {
                if let Some(rid) = d.rid {
                    r.rates.add(rid, d.data.len(), Instant::now());
                }
                let mut ask: Vec<Option<Rid>> = Vec::new();
                for c in sessions
                    .iter_mut()
                    .filter(|s| s.room == room && s.role == Role::Classroom)
                {
                    if let Some(want) = video_to(c, &d, &r.rates, m) {
                        ask.push(want);
                    }
                    if (c.layer == d.rid || d.rid.is_none())
                        && let Some(mid) = c.video_out
                    {
                        write(&mut c.rtc, mid, &d, m);
                    }
                }
                for rid in ask {
                    keyframe(sessions, r, &room, rid);
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
        Forward::Keyframe(room, rid) => {
            if let Some(r) = rooms.get_mut(&room) {
                keyframe(sessions, r, &room, rid);
            }
        }
    }
}

/// Move classroom `c` to the layer its bandwidth fits, switching on a keyframe
/// of the new layer; answers a layer whose keyframe it waits for.
fn video_to(c: &mut Session, d: &MediaData, rates: &Rates, m: &SfuMetrics) -> Option<Option<Rid>> {
    if d.rid.is_none() {
        // No simulcast: one keyframe for a newcomer, then every frame.
        if std::mem::take(&mut c.wants_keyframe) && !d.is_keyframe() {
            return Some(None);
        }
        return None;
    }
    let want = rates.choose(c.estimate)?;
    if c.layer != Some(want) {
        if d.rid == Some(want) && d.is_keyframe() {
            if c.layer.is_some() {
                m.layer_switches.inc();
            }
            c.layer = Some(want);
            c.wants_keyframe = false;
            if let Some(b) = rates.desired(c.layer) {
                c.rtc.bwe().set_desired_bitrate(b);
            }
        } else {
            return Some(Some(want));
        }
    }
    None
}

/// Ask the teacher for a keyframe of layer `rid`, at most every [`KEYFRAME_EVERY`].
fn keyframe(sessions: &mut [Session], r: &mut Room, room: &str, rid: Option<Rid>) {
    let now = Instant::now();
    if r.asked
        .get(&rid)
        .is_some_and(|t| now.saturating_duration_since(*t) < KEYFRAME_EVERY)
    {
        return;
    }
    r.asked.insert(rid, now);
    if let Some(t) = sessions
        .iter_mut()
        .find(|s| s.room == room && s.role == Role::Teacher)
        && let Some(mid) = t.video_in
        && let Some(mut w) = t.rtc.writer(mid)
    {
        let _ = w.request_keyframe(rid, KeyframeRequestKind::Pli);
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
