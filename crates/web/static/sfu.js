// sfu.js: the browser side of cunlink-rtc's SFU (the school's live class). A page that holds
//   <section id="call" data-role="teacher|classroom" data-join="/api/…/live" data-ice='[…]'
//            data-csrf="…" data-l-connecting="…" …>
// joins by itself and shows where it is on #call[data-state]: connecting | connected | ended
// (call.js's convention). One offer, one answer (POST {"sdp"} → {"sdp"}), never renegotiated:
// the teacher sends camera (simulcast q/h/f where the browser offers it), screen (a second
// video, empty until 共享屏幕 is pressed) and microphone and receives up to 3 classrooms'
// voices; a classroom receives the teacher's camera, screen and voice and sends its
// microphone. The SFU picks each classroom's layer from its bandwidth (or ?layer=low|mid|high
// on the page pins one); the lowest layer is small (¼ size, ≤ 150 kbit/s) so a weak
// village link still gets a picture. Screen on/off travels on a data channel ("screen:on",
// "screen:off", relayed by the SFU); classrooms then show the screen large (#call[data-screen]).
(() => {
  "use strict";
  const root = document.getElementById("call");
  if (!root || !root.dataset.join) return;
  const d = root.dataset;
  const SLOTS = 3;
  const L = (k) => d["l" + k.split("-").map((w) => w[0].toUpperCase() + w.slice(1)).join("")] || k;
  const $ = (s) => root.querySelector(s);
  const status = $(".call-status"), remoteVideo = $("#call-remote"), localVideo = $("#call-local");
  const screenVideo = $("#call-screen");
  const muteBtn = $("[data-action=mute]"), leaveBtn = $("[data-action=hangup]"), shareBtn = $("[data-action=screen]");
  const teacher = d.role === "teacher";
  const query = new URLSearchParams(location.search);
  const relay = query.get("ice") === "relay", layer = query.get("layer");
  const MIC = { echoCancellation: true, noiseSuppression: true, autoGainControl: true, channelCount: 1 };
  const CAMERA = { width: { ideal: 1280 }, height: { ideal: 720 }, frameRate: { ideal: 30, max: 30 } };
  const LAYERS = [
    // No maxFramerate here: Chromium 148 applied a 15 fps cap on this layer to every layer.
    { rid: "q", scaleResolutionDownBy: 4, maxBitrate: 150000 },
    { rid: "h", scaleResolutionDownBy: 2, maxBitrate: 500000 },
    { rid: "f", scaleResolutionDownBy: 1, maxBitrate: 1200000 },
  ];
  // One layer for the screen: text stays sharp (contentHint "detail"), few frames a second.
  const SCREEN = { width: { ideal: 1280, max: 1920 }, height: { ideal: 720, max: 1080 }, frameRate: { ideal: 15, max: 15 } };
  const SCREEN_ENC = [{ maxBitrate: 1000000, maxFramerate: 15 }];
  let ice = [];
  try { ice = JSON.parse(d.ice || "[]"); } catch (_) { ice = []; }
  let pc = null, media = null, ended = false, started = 0;
  let camTx = null, screenTx = null, channel = null, screen = null;

  function setState(state, text) {
    root.dataset.state = state;
    if (text) status.textContent = text;
  }
  function end(text) {
    if (ended) return;
    ended = true;
    if (pc) pc.close();
    if (media) media.getTracks().forEach((t) => t.stop());
    if (screen) screen.getTracks().forEach((t) => t.stop());
    if (shareBtn) shareBtn.hidden = true;
    setState("ended", text || L("ended"));
  }

  async function getMedia() {
    try {
      media = await navigator.mediaDevices.getUserMedia(teacher ? { audio: MIC, video: CAMERA } : { audio: MIC });
    } catch (_) {
      // A classroom without a microphone still watches; a teacher without a camera still speaks.
      try { media = await navigator.mediaDevices.getUserMedia({ audio: MIC }); } catch (_) { media = new MediaStream(); }
      if (teacher && !media.getAudioTracks().length) status.textContent = L("no-media");
    }
    if (teacher) localVideo.srcObject = media;
    return media;
  }

  function playVoice(stream) {
    const a = document.createElement("audio");
    a.autoplay = true;
    a.srcObject = stream;
    root.appendChild(a);
  }

  async function start() {
    started = performance.now();
    setState("connecting", L("connecting"));
    const m = await getMedia();
    pc = new RTCPeerConnection({ iceServers: ice, iceTransportPolicy: relay ? "relay" : "all", bundlePolicy: "max-bundle" });
    const [cam] = m.getVideoTracks(), [mic] = m.getAudioTracks();
    // Order matters: the SFU takes the first video for the camera, the second for the screen.
    if (teacher) {
      camTx = pc.addTransceiver(cam || "video", { direction: "sendonly", streams: [m], sendEncodings: LAYERS });
      screenTx = pc.addTransceiver("video", { direction: "sendonly", sendEncodings: SCREEN_ENC });
      if (mic) pc.addTransceiver(mic, { direction: "sendonly", streams: [m], sendEncodings: [{ maxBitrate: 32000 }] });
      for (let i = 0; i < SLOTS; i++) pc.addTransceiver("audio", { direction: "recvonly" });
    } else {
      camTx = pc.addTransceiver("video", { direction: "recvonly" });
      screenTx = pc.addTransceiver("video", { direction: "recvonly" });
      if (mic) pc.addTransceiver(mic, { direction: "sendrecv", streams: [m], sendEncodings: [{ maxBitrate: 24000 }] });
      else pc.addTransceiver("audio", { direction: "recvonly" });
    }
    window.cunlinkLive = { pc, role: d.role, camera: camTx, screen: screenTx };
    channel = pc.createDataChannel("class");
    channel.onopen = () => { if (teacher && screen) channel.send("screen:on"); };
    channel.onmessage = (e) => { if (!teacher) showScreen(e.data === "screen:on"); };
    pc.ontrack = (e) => {
      const s = new MediaStream([e.track]);
      if (e.transceiver === screenTx) screenVideo.srcObject = s;
      else if (e.track.kind === "video") remoteVideo.srcObject = s;
      else playVoice(s);
    };
    pc.onconnectionstatechange = () => {
      const st = pc.connectionState;
      if (st === "connected") {
        root.dataset.connectedMs = String(Math.round(performance.now() - started));
        setState("connected", root.dataset.screen === "on" && !teacher ? L("screen-on") : L("connected"));
        if (shareBtn && navigator.mediaDevices && navigator.mediaDevices.getDisplayMedia) shareBtn.hidden = false;
      } else if (st === "failed" || st === "closed") end();
    };
    const offer = await pc.createOffer();
    await pc.setLocalDescription(offer);
    const r = await fetch(d.join, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": d.csrf || "" },
      body: JSON.stringify(layer ? { sdp: pc.localDescription.sdp, layer } : { sdp: pc.localDescription.sdp }),
    });
    if (r.status === 403 || r.status === 404) return end(L("refused"));
    if (r.status === 409) return end(L("full"));
    if (!r.ok) throw new Error("join " + r.status);
    const a = await r.json();
    await pc.setRemoteDescription({ type: "answer", sdp: a.sdp });
  }

  // A classroom: the teacher's screen large and the camera small, or the camera alone.
  function showScreen(on) {
    root.dataset.screen = on ? "on" : "off";
    if (root.dataset.state === "connected") status.textContent = on ? L("screen-on") : L("connected");
  }

  function shareLabel(on) {
    shareBtn.setAttribute("aria-pressed", String(on));
    shareBtn.textContent = on ? L("stop-screen") : L("share-screen");
  }

  async function startShare() {
    let s;
    try {
      s = await navigator.mediaDevices.getDisplayMedia({ video: SCREEN, audio: false });
    } catch (_) {
      status.textContent = L("screen-failed");
      return;
    }
    if (ended) return s.getTracks().forEach((t) => t.stop());
    const [t] = s.getVideoTracks();
    t.contentHint = "detail";
    // The browser's own "stop sharing" bar ends the track: the same as our button.
    t.addEventListener("ended", stopShare);
    await screenTx.sender.replaceTrack(t);
    screen = s;
    screenVideo.srcObject = s;
    root.dataset.screen = "on";
    shareLabel(true);
    if (channel && channel.readyState === "open") channel.send("screen:on");
  }

  async function stopShare() {
    if (!screen) return;
    const s = screen;
    screen = null;
    root.dataset.screen = "off";
    shareLabel(false);
    if (channel && channel.readyState === "open") channel.send("screen:off");
    screenVideo.srcObject = null;
    s.getTracks().forEach((t) => t.stop());
    if (pc && pc.signalingState !== "closed") await screenTx.sender.replaceTrack(null);
  }

  if (shareBtn) shareBtn.addEventListener("click", () => {
    if (!screenTx) return;
    (screen ? stopShare() : startShare()).catch((e) => { console.error(e); status.textContent = L("screen-failed"); });
  });
  if (muteBtn) muteBtn.addEventListener("click", () => {
    const on = muteBtn.getAttribute("aria-pressed") !== "true";
    muteBtn.setAttribute("aria-pressed", String(on));
    muteBtn.textContent = on ? d.lUnmute || "Unmute" : d.lMute || "Mute";
    if (media) media.getAudioTracks().forEach((t) => { t.enabled = !on; });
  });
  if (leaveBtn) leaveBtn.addEventListener("click", () => end());
  window.addEventListener("pagehide", () => { if (pc) pc.close(); });
  start().catch((e) => { console.error(e); end(L("ended")); });
})();
