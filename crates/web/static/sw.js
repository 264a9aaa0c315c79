// cunlink service worker. SHELL and VERSION are prepended by the server.
// Pages: network first; a copy of each visited page is kept (the last 30) so the
// app opens offline, read-only, with an "as of" time.
const SHELL_CACHE = "shell-" + VERSION;
const PAGES = "pages";
const KEEP = 30;

self.addEventListener("install", (e) => {
  e.waitUntil(caches.open(SHELL_CACHE).then((c) => c.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (e) => {
  e.waitUntil(
    caches.keys()
      .then((keys) => Promise.all(keys.filter((k) => k.startsWith("shell-") && k !== SHELL_CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim())
  );
});

async function remember(req, resp) {
  const c = await caches.open(PAGES);
  const headers = new Headers(resp.headers);
  headers.set("x-cached-at", String(Date.now()));
  await c.put(req, new Response(await resp.blob(), { status: resp.status, headers }));
  const keys = await c.keys();
  for (const k of keys.slice(0, Math.max(0, keys.length - KEEP))) await c.delete(k);
}

async function fromCache(req) {
  const c = await caches.open(PAGES);
  const hit = await c.match(req, { ignoreVary: true });
  if (!hit) return new Response("<!doctype html><meta charset=utf-8><meta name=viewport content='width=device-width'><p style='font:18px sans-serif;padding:1em'>离线：此页尚未保存。<br>Offline: this page was not saved.</p>", { status: 503, headers: { "content-type": "text/html; charset=utf-8" } });
  const at = hit.headers.get("x-cached-at") || "";
  const html = (await hit.text()).replace('<p id="offline" class="offline" hidden>', '<p id="offline" class="offline" data-cached="' + at + '">');
  return new Response(html, { headers: { "content-type": "text/html; charset=utf-8" } });
}

self.addEventListener("fetch", (e) => {
  const req = e.request;
  if (req.method !== "GET") return;
  const u = new URL(req.url);
  if (u.origin !== location.origin) return;
  if (u.pathname.startsWith("/static/")) {
    e.respondWith(caches.match(req).then((hit) => hit || fetch(req).then((r) => {
      const copy = r.clone();
      caches.open(SHELL_CACHE).then((c) => c.put(req, copy));
      return r;
    })));
    return;
  }
  if (req.mode !== "navigate") return;
  e.respondWith(
    fetch(req).then((r) => {
      if (r.ok && !r.redirected && (r.headers.get("content-type") || "").startsWith("text/html")) {
        const copy = r.clone();
        e.waitUntil(remember(req, copy));
      }
      return r;
    }).catch(() => fromCache(req))
  );
});

// Web Push: the alert domain sends {"title","body","url"}.
self.addEventListener("push", (e) => {
  let d = {};
  try { d = e.data ? e.data.json() : {}; } catch (_) { d = { body: e.data ? e.data.text() : "" }; }
  e.waitUntil(self.registration.showNotification(d.title || "村联 cunlink", {
    body: d.body || "", icon: SHELL.find((s) => s.endsWith("icon.svg")), tag: d.tag, data: { url: d.url || "/" },
  }));
});

self.addEventListener("notificationclick", (e) => {
  e.notification.close();
  const url = (e.notification.data && e.notification.data.url) || "/";
  e.waitUntil(self.clients.matchAll({ type: "window" }).then((ws) => {
    for (const w of ws) if (new URL(w.url).pathname === url && "focus" in w) return w.focus();
    return self.clients.openWindow(url);
  }));
});
