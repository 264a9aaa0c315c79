// cunlink page glue: service worker, offline banner, live values over SSE, copy buttons.
(function () {
  "use strict";
  if ("serviceWorker" in navigator) navigator.serviceWorker.register("/sw.js").catch(function () {});
  var b = document.body;
  var off = document.getElementById("offline");
  if (off && off.dataset.cached) {
    off.hidden = false;
    var d = new Date(Number(off.dataset.cached));
    document.getElementById("asof").textContent = b.dataset.asof + " " + d.toLocaleString(document.documentElement.lang);
    document.querySelectorAll("form").forEach(function (f) { f.querySelectorAll("button,input,select").forEach(function (x) { x.disabled = true; }); });
  }
  if (location.pathname === "/login" && window.caches) caches.delete("pages");

  function fmt(v, el) {
    if (typeof v !== "number") return String(v);
    var dec = el.dataset.dec !== undefined ? Number(el.dataset.dec) : (Number.isInteger(v) ? 0 : 1);
    var s = v.toLocaleString("en-US", { minimumFractionDigits: dec, maximumFractionDigits: dec });
    return el.dataset.unit ? s + " " + el.dataset.unit : s;
  }
  function apply(r) {
    document.querySelectorAll('[data-live="' + r.d + "/" + r.k + '"]').forEach(function (el) {
      el.textContent = fmt(r.v, el);
      el.classList.remove("flash"); void el.offsetWidth; el.classList.add("flash");
    });
    document.querySelectorAll('[data-seen="' + r.d + '"]').forEach(function (el) {
      el.textContent = b.dataset.justnow || el.textContent;
      var card = el.closest(".stale"); if (card) card.classList.remove("stale");
    });
  }
  if (b.dataset.live && window.EventSource) {
    var es = new EventSource(b.dataset.live);
    es.addEventListener("reading", function (e) {
      try { JSON.parse(e.data).forEach(apply); } catch (_) {}
    });
    es.addEventListener("reload", function () { location.reload(); });
  }
  // Notifications over the village's own network: while a page is open the
  // server streams the user's alarms and notices, and the service worker shows
  // them like a Web Push (same tag, so a push arriving later replaces it). No
  // push service is involved: it works on a node whose internet is down and on
  // phones without Google services.
  if (b.dataset.notify && window.EventSource && window.Notification && Notification.permission === "granted" && "serviceWorker" in navigator) {
    var ns = new EventSource(b.dataset.notify);
    ns.addEventListener("notify", function (e) {
      var d;
      try { d = JSON.parse(e.data); } catch (_) { return; }
      navigator.serviceWorker.ready.then(function (r) {
        return r.showNotification(d.title || "村联 cunlink", { body: d.body || "", tag: d.tag, data: { url: d.url || "/" } });
      }).catch(function () {});
    });
  }
  // Counts on tabs (unread notices), fetched after the page is shown.
  document.querySelectorAll(".tabbar a[data-badge]").forEach(function (a) {
    fetch(a.dataset.badge, { credentials: "same-origin" }).then(function (r) { return r.ok ? r.json() : null; }).then(function (j) {
      if (!j || !(j.count > 0)) return;
      var n = document.createElement("b"); n.className = "badge"; n.textContent = j.count > 99 ? "99+" : String(j.count);
      a.querySelector("span").append(" ", n);
    }).catch(function () {});
  });
  document.addEventListener("click", function (e) {
    var t = e.target.closest("[data-copy]");
    if (!t) return;
    var src = document.getElementById(t.dataset.copy);
    if (src && navigator.clipboard) navigator.clipboard.writeText(src.textContent).then(function () { t.classList.add("done"); });
  });
})();
