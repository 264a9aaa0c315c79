// call.js: the browser side of cunlink-rtc (crates/rtc). A page that holds
//   <section id="call" data-ws="/path/ws" data-token="…" data-ice='[…]'
//            data-token-url="/api/…/call" data-csrf="…" data-l-connecting="…" …>
// joins the room by itself and shows where it is on #call[data-state]:
// connecting | connected | ended. Signaling messages are the hub's
// ({"type","to"?,"data"} out, {"type","from","data"} in; welcome/join/leave
// from the hub). The newcomer makes the offer, so two pages never collide.
//
// Weak-link profile: video starts at ≤ 150 kbit/s, 320×240, 15 fps, Opus at
// 24 kbit/s; every 2 s getStats decides the video bitrate from the available
// outgoing bitrate, and drops to audio only by itself when the estimate, loss
// or round-trip time say the link cannot carry video (it tries video again
// after 30 s of a good link). Either side can force audio only for both.
// `?ice=relay` in the page URL sends media through TURN only.
(() => {
  "use strict";
  const root = document.getElementById("call");
  if (!root) return;
  const d = root.dataset;
  const VIDEO_MAX = 150000, VIDEO_MIN = 40000, AUDIO = 24000, TICK = 2000;
  const VIDEO = { width: { ideal: 320 }, height: { ideal: 240 }, frameRate: { ideal: 15, max: 15 } };
  const MIC = { echoCancellation: true, noiseSuppression: true, autoGainControl: true, channelCount: 1 };
  const relay = new URLSearchParams(location.search).get("ice") === "relay";
  const L = (k) => d["l" + k.split("-").map((w) => w[0].toUpperCase() + w.slice(1)).join("")] || k;
  const $ = (s) => root.querySelector(s);
  const status = $(".call-status"), remoteVideo = $("#call-remote"), localVideo = $("#call-local");
  const audioBtn = $("[data-action=audio-only]"), hangBtn = $("[data-action=hangup]");

  let ice = [];
  try { ice = JSON.parse(d.ice || "[]"); } catch (_) { ice = []; }
  let token = d.token, ws = null, pc = null, peer = null, offerer = false, pending = [];
  let media = null, forced = false, auto = false, weak = 0, good = 0, retries = 0, ended = false;
  let lastRate = 0, prevSent = null, remoteVideoOff = false, chain = Promise.resolve();

  function setState(state, text) {
    root.dataset.state = state;
    if (text) status.textContent = text;
  }
  function label() {
    if (root.dataset.state !== "connected") return;
    let t = L("connected");
    if (forced) t += " · " + L("audio-only");
    else if (auto) t += " · " + L("audio-auto");
    else if (remoteVideoOff) t += " · " + L("peer-audio-only");
    status.textContent = t;
  }
  const send = (type, data, to) => {
    if (ws && ws.readyState === 1) ws.send(JSON.stringify({ type, data, to }));
  };

  // Camera and microphone, asked once; without a camera the call is audio only.
  function getMedia() {
    media ??= navigator.mediaDevices.getUserMedia({ audio: MIC, video: VIDEO })
      .catch(() => navigator.mediaDevices.getUserMedia({ audio: MIC }))
      .then((s) => { localVideo.srcObject = s; return s; });
    return media;
  }

  function connect() {
    ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + d.ws + "?token=" + encodeURIComponent(token));
    token = null;
    // One message at a time: an answer or candidate must not overtake the offer it follows.
    ws.onmessage = (e) => {
      let m;
      try { m = JSON.parse(e.data); } catch (_) { return; }
      chain = chain.then(() => onMessage(m)).catch(fail);
    };
    ws.onclose = () => { if (!ended) setTimeout(reconnect, 1000 + 500 * retries); };
  }

  // A fresh token for a new socket; a refusal (403/404/409) ends the call.
  async function reconnect() {
    if (ended) return;
    if (++retries > 6) return end(L("ended"));
    try {
      const r = await fetch(d.tokenUrl, { method: "POST", headers: { "X-CSRF-Token": d.csrf || "" }, credentials: "same-origin" });
      if (r.status === 403 || r.status === 404) return end(L("refused"));
      // The consult was closed or cancelled: its call is over.
      if (r.status === 409) return end(L("ended"));
      if (!r.ok) throw new Error("token " + r.status);
      const j = await r.json();
      token = j.token;
      if (Array.isArray(j.iceServers)) ice = j.iceServers;
      connect();
    } catch (_) {
      setTimeout(reconnect, 2000);
    }
  }

  function newPc(remote) {
    closePc();
    peer = remote;
    pending = [];
    pc = new RTCPeerConnection({ iceServers: ice, iceTransportPolicy: relay ? "relay" : "all" });
    const mine = pc;
    pc.onicecandidate = (e) => { if (e.candidate && mine === pc) send("candidate", e.candidate.toJSON(), peer); };
    pc.ontrack = (e) => { remoteVideo.srcObject = e.streams[0] || new MediaStream([e.track]); };
    pc.onconnectionstatechange = () => {
      if (mine !== pc || ended) return;
      const s = pc.connectionState;
      if (s === "connected") {
        retries = 0;
        // Page open → connected, in ms (the call-setup benchmark reads it).
        root.dataset.connectedMs ??= String(Math.round(performance.now()));
        setState("connected");
        label();
      }
      else if (s === "failed" && offerer) offer(true).catch(fail);
      else if (s === "disconnected" || s === "failed") setState("connecting", L("reconnecting"));
    };
    return pc;
  }
  function closePc() {
    if (pc) { pc.onconnectionstatechange = null; pc.close(); }
    pc = null; peer = null; remoteVideo.srcObject = null; remoteVideoOff = false; prevSent = null;
  }
  async function addTracks(p) {
    const s = await getMedia();
    for (const t of s.getTracks()) p.addTrack(t, s);
  }

  // Opus capped in the SDP too, so the far side's encoder starts low.
  const capOpus = (sdp) => {
    const m = sdp.match(/a=rtpmap:(\d+) opus\/48000/i);
    if (!m) return sdp;
    return sdp.replace(new RegExp("(a=fmtp:" + m[1] + " [^\\r\\n]*)"), (l) => l.includes("maxaveragebitrate") ? l : l + ";maxaveragebitrate=" + AUDIO);
  };

  async function offer(restart) {
    const p = pc;
    const o = await p.createOffer(restart ? { iceRestart: true } : {});
    await p.setLocalDescription({ type: "offer", sdp: capOpus(o.sdp) });
    await profile(lastRate || VIDEO_MAX);
    send("offer", p.localDescription.toJSON(), peer);
  }

  async function onMessage(m) {
    switch (m.type) {
      case "welcome":
        root.dataset.joined = "1";
        setState("connecting", m.peers.length ? L("connecting") : L("waiting"));
        if (m.peers.length) {
          offerer = true;
          const p = newPc(m.peers[0].peer);
          await addTracks(p);
          if (p === pc) await offer(false);
        }
        break;
      case "join":
        offerer = false;
        newPc(m.peer);
        setState("connecting", L("connecting"));
        break;
      case "offer": {
        if (!pc || peer !== m.from) newPc(m.from);
        const p = pc;
        if (!p.getSenders().length) await addTracks(p);
        await p.setRemoteDescription(m.data);
        for (const c of pending.splice(0)) await p.addIceCandidate(c).catch(() => {});
        const a = await p.createAnswer();
        await p.setLocalDescription({ type: "answer", sdp: capOpus(a.sdp) });
        await profile(lastRate || VIDEO_MAX);
        send("answer", p.localDescription.toJSON(), m.from);
        if (forced) send("audio-only", { on: true }, m.from);
        break;
      }
      case "answer":
        if (pc && peer === m.from) {
          await pc.setRemoteDescription(m.data);
          for (const c of pending.splice(0)) await pc.addIceCandidate(c).catch(() => {});
        }
        break;
      case "candidate":
        if (!pc || peer !== m.from || !m.data) break;
        if (pc.remoteDescription) await pc.addIceCandidate(m.data).catch(() => {});
        else pending.push(m.data);
        break;
      case "audio-only":
        forced = !!(m.data && m.data.on);
        await apply();
        break;
      case "media":
        remoteVideoOff = !!(m.data && m.data.video === false);
        label();
        break;
      case "leave":
        if (m.peer === peer) { closePc(); setState("connecting", L("waiting")); }
        break;
      case "hangup":
        end(L("ended-by-peer"));
        break;
    }
  }

  function videoSender() {
    return pc && pc.getSenders().find((s) => s.track && s.track.kind === "video");
  }

  // The encodings of both senders: video bitrate `rate` (or off), Opus at 24 kbit/s.
  async function profile(rate) {
    if (!pc) return;
    const off = forced || auto;
    for (const s of pc.getSenders()) {
      if (!s.track) continue;
      const p = s.getParameters();
      if (!p.encodings || !p.encodings.length) p.encodings = [{}];
      const e = p.encodings[0];
      if (s.track.kind === "audio") {
        e.maxBitrate = AUDIO;
      } else {
        e.maxBitrate = Math.round(rate);
        e.maxFramerate = 15;
        e.active = !off;
      }
      await s.setParameters(p).catch(() => {});
    }
    lastRate = rate;
    localVideo.hidden = off;
  }

  async function apply() {
    const off = forced || auto;
    await profile(lastRate || VIDEO_MAX);
    root.dataset.audioOnly = off ? "1" : "0";
    root.dataset.audioForced = forced ? "1" : "0";
    audioBtn.setAttribute("aria-pressed", forced ? "true" : "false");
    audioBtn.textContent = forced ? L("video-on") : L("audio-only-button");
    send("media", { video: !off, auto });
    label();
  }

  // Adapt to the link: runs every TICK while a connection exists.
  async function adapt() {
    if (!pc || pc.connectionState !== "connected") return;
    const stats = await pc.getStats();
    let avail, rtt, loss = 0, sent = null;
    stats.forEach((r) => {
      if (r.type === "candidate-pair" && r.nominated && r.state === "succeeded") {
        avail = r.availableOutgoingBitrate; rtt = r.currentRoundTripTime;
      } else if (r.type === "remote-inbound-rtp" && r.fractionLost !== undefined) {
        loss = Math.max(loss, r.fractionLost);
      } else if (r.type === "outbound-rtp" && r.kind === "video") {
        sent = { bytes: r.bytesSent, at: r.timestamp };
      }
    });
    if (sent && prevSent && sent.at > prevSent.at) root.dataset.videoKbps = String(Math.round((sent.bytes - prevSent.bytes) * 8 / (sent.at - prevSent.at)));
    prevSent = sent;
    const isWeak = (avail !== undefined && avail < AUDIO + VIDEO_MIN + 20000) || loss > 0.1 || rtt > 1.0;
    const isGood = loss < 0.03 && !(rtt > 0.6) && !(avail !== undefined && avail < AUDIO + VIDEO_MIN + 40000 && !auto);
    weak = isWeak ? weak + 1 : 0;
    good = isGood ? good + 1 : 0;
    if (!auto && weak >= 2) { auto = true; good = 0; await apply(); return; }
    if (auto && good * TICK >= 30000) { auto = false; weak = 0; await profile(VIDEO_MIN); await apply(); return; }
    if (!auto && !forced && avail !== undefined) {
      const target = Math.max(VIDEO_MIN, Math.min(VIDEO_MAX, avail * 0.7 - AUDIO));
      if (Math.abs(target - lastRate) > lastRate * 0.1) await profile(target);
    }
  }

  function end(text) {
    if (ended) return;
    ended = true;
    closePc();
    if (ws) ws.close();
    if (media) media.then((s) => s.getTracks().forEach((t) => t.stop()), () => {});
    setState("ended", text || L("ended"));
    audioBtn.disabled = true;
    hangBtn.disabled = true;
  }
  function fail(e) {
    if (window.console) console.warn("call:", e);
  }

  audioBtn.addEventListener("click", () => {
    forced = !forced;
    send("audio-only", { on: forced });
    apply().catch(fail);
  });
  hangBtn.addEventListener("click", () => { send("hangup"); end(L("ended")); });
  setInterval(() => adapt().catch(fail), TICK);
  // For tests and the curious: the live connection.
  window.cunlinkCall = { get pc() { return pc; } };

  setState("connecting", L("connecting"));
  getMedia().catch(() => end(L("no-media")));
  connect();
})();
