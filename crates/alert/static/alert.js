// cunlink alert pages: live alarm rows, the rule form, Web Push on this phone.
(function () {
  "use strict";
  if (window.cunlinkAlert) return; // the overview and a section may both load it
  window.cunlinkAlert = true;

  // ---- live alarm lists (inbox, overview top) ----
  var lists = document.querySelectorAll("ul[data-alarms]");
  function belongs(list, a) {
    var want = list.dataset.alarms;
    if (want !== "all" && a.status !== want) return false;
    if (list.dataset.severity && a.severity !== list.dataset.severity) return false;
    if (list.dataset.asset && String(a.asset_id) !== list.dataset.asset) return false;
    return true;
  }
  function emptyNote(list) {
    var note = list.parentNode.querySelector("[data-empty]");
    if (note) note.hidden = list.children.length > 0;
  }
  function update(list, a) {
    var old = list.querySelector("#alarm-" + a.id);
    if (!belongs(list, a)) {
      if (old) old.remove();
      emptyNote(list);
      return;
    }
    var url = "/alarms/" + a.id + "/row?keep=" + encodeURIComponent(list.dataset.alarms) + (list.dataset.compact ? "&compact=true" : "");
    fetch(url, { credentials: "same-origin" }).then(function (r) { return r.ok ? r.text() : ""; }).then(function (html) {
      if (!html) return;
      var t = document.createElement("template");
      t.innerHTML = html.trim();
      var el = t.content.firstElementChild;
      var cur = list.querySelector("#alarm-" + a.id);
      if (cur) cur.replaceWith(el); else list.insertBefore(el, list.firstChild);
      if (window.htmx) window.htmx.process(el);
      el.classList.add("flash");
      emptyNote(list);
    });
  }
  if (lists.length && window.EventSource) {
    var es = new EventSource("/api/alarms/stream");
    es.addEventListener("alarm", function (e) {
      var a;
      try { a = JSON.parse(e.data); } catch (_) { return; }
      lists.forEach(function (l) { update(l, a); });
    });
  }
  // A row acted on through htmx may leave its list: keep the empty note right.
  document.addEventListener("htmx:afterSwap", function () { lists.forEach(emptyNote); });

  // ---- the rule form ----
  var form = document.querySelector("form[data-rule]");
  if (form) ruleForm(form);

  function ruleForm(f) {
    var $ = function (sel) { return f.querySelector(sel); };
    var val = function (name) { var e = f.elements[name]; return e ? e.value.trim() : ""; };
    function show(sel, on) { var e = typeof sel === "string" ? $(sel) : sel; if (e) e.hidden = !on; }
    function kind() { return val("target_kind"); }
    function targetInput() { return $('[data-target="' + kind() + '"]'); }
    function cond() { return val("cond"); }

    f.elements.target_kind.addEventListener("change", function () {
      f.querySelectorAll("[data-target]").forEach(function (e) { e.hidden = e.dataset.target !== kind(); });
      loadKeys();
    });
    f.querySelectorAll("[data-target]").forEach(function (e) { e.addEventListener("change", loadKeys); });
    // An existing rule's keys are fetched after the page shows: a target may
    // span thousands of devices, which the page render should not wait for.
    loadKeys();
    f.elements.cond.addEventListener("change", function () {
      f.querySelectorAll("fieldset[data-cond]").forEach(function (e) { e.hidden = e.dataset.cond !== cond(); });
    });
    f.querySelectorAll("[data-toggle]").forEach(function (c) {
      c.addEventListener("change", function () { show('[data-part="' + c.dataset.toggle + '"]', c.checked); });
    });
    var cmps = $("[data-comparisons]");
    $("[data-add-cmp]").addEventListener("click", function () {
      var first = cmps.querySelector("[data-cmp]");
      var copy = first.cloneNode(true);
      copy.querySelectorAll("input").forEach(function (i) { i.value = ""; });
      copy.querySelectorAll(".error").forEach(function (e) { e.remove(); });
      cmps.appendChild(copy);
      number();
      copy.querySelector("input").focus();
    });
    cmps.addEventListener("click", function (e) {
      var b = e.target.closest("[data-remove]");
      if (!b || cmps.querySelectorAll("[data-cmp]").length < 2) return;
      b.closest("[data-cmp]").remove();
      number();
    });
    // Comparison fields are named by their position, as the API names them.
    function number() {
      cmps.querySelectorAll("[data-cmp]").forEach(function (row, i) {
        row.querySelector('input[name="key"]').parentNode.dataset.field = "condition.conditions[" + i + "].key";
        row.querySelector('input[name="value"]').parentNode.dataset.field = "condition.conditions[" + i + "].value";
      });
    }

    function loadKeys() {
      var name = targetInput() ? targetInput().value.trim() : "";
      var info = $("[data-keys-info]");
      if (!name) { info.textContent = ""; return; }
      fetch("/rules/keys?kind=" + encodeURIComponent(kind()) + "&name=" + encodeURIComponent(name), { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (k) {
          if (!k) return;
          var dl = document.getElementById("rule-keys");
          dl.textContent = "";
          k.keys.forEach(function (key) { var o = document.createElement("option"); o.value = key; dl.appendChild(o); });
          info.textContent = k.exists ? f.dataset.devices.replace("{n}", k.devices) + (k.keys.length ? " · " + k.keys.join(", ") : "") : f.dataset.notarget;
        });
    }

    function clearErrors() {
      f.querySelectorAll(".field-error").forEach(function (e) { e.remove(); });
      f.querySelectorAll("[aria-invalid]").forEach(function (e) { e.removeAttribute("aria-invalid"); });
      show("[data-err-top]", false);
    }
    function visible(e) { return !e.closest("[hidden]"); }
    // Put `msg` next to the field the API named; a field we do not show falls
    // back to its parent ("condition.conditions[0].value" → "condition.conditions"), then the top.
    function fieldError(field, msg) {
      var path = field || "";
      while (path) {
        var hits = [].filter.call(f.querySelectorAll('[data-field="' + path + '"]'), visible);
        if (hits.length) {
          var box = hits[0];
          var p = document.createElement("p");
          p.className = "error field-error";
          p.setAttribute("role", "alert");
          p.textContent = msg;
          box.appendChild(p);
          var input = box.querySelector("input,select");
          if (input) { input.setAttribute("aria-invalid", "true"); input.focus(); }
          return;
        }
        var cut = Math.max(path.lastIndexOf("."), path.lastIndexOf("["));
        path = cut > 0 ? path.slice(0, cut) : "";
      }
      var top = $("[data-err-top]");
      top.textContent = msg;
      top.hidden = false;
      top.scrollIntoView({ block: "center" });
    }

    function Bad(field, msg) { this.field = field; this.msg = msg; }
    function num(name, field, optional) {
      var v = val(name);
      if (v === "" && optional) return undefined;
      var x = Number(v.replace(",", "."));
      if (v === "" || !isFinite(x)) throw new Bad(field, f.dataset.need);
      return x;
    }
    function seconds(name, field, optional) {
      var m = num(name, field, optional);
      return m === undefined ? undefined : Math.round(m * 60);
    }

    function build() {
      var target = {};
      target[kind()] = targetInput() ? targetInput().value.trim() : "";
      if (!target[kind()]) throw new Bad("target", f.dataset.notarget);
      var c;
      switch (cond()) {
        case "threshold":
          c = { type: "threshold", match: val("match"), for_s: seconds("for_min", "condition.for_s"), conditions: [] };
          cmps.querySelectorAll("[data-cmp]").forEach(function (row, i) {
            var v = row.querySelector('input[name="value"]').value.trim().replace(",", ".");
            if (v === "" || !isFinite(Number(v))) throw new Bad("condition.conditions[" + i + "].value", f.dataset.need);
            c.conditions.push({ key: row.querySelector('input[name="key"]').value.trim(), op: row.querySelector("select").value, value: Number(v) });
          });
          break;
        case "rate":
          c = { type: "rate", key: val("rate_key"), change: num("rate_change", "condition.change"), within_s: seconds("rate_within_min", "condition.within_s") };
          break;
        case "silence":
          c = { type: "silence" };
          var after = seconds("silence_after_min", "condition.after_s", true);
          if (after !== undefined) c.after_s = after;
          else { var n = num("silence_intervals", "condition.intervals", true); if (n !== undefined) c.intervals = Math.round(n); }
          break;
        default:
          c = {
            type: "herd_fever", key: val("hf_key"),
            above_baseline: num("hf_above_baseline", "condition.above_baseline"),
            above_pen_median: num("hf_above_pen_median", "condition.above_pen_median"),
            for_s: seconds("hf_for_min", "condition.for_s"),
            baseline_days: Math.round(num("hf_baseline_days", "condition.baseline_days")),
            window_min: Math.round(num("hf_window_min", "condition.window_min")),
            core_cutoff: num("hf_core_cutoff", "condition.core_cutoff"),
          };
          if (val("hf_activity_key")) {
            c.activity_key = val("hf_activity_key");
            var drop = num("hf_activity_drop", "condition.activity_drop", true);
            if (drop !== undefined) c.activity_drop = drop / 100;
          }
      }
      var rule = {
        name: val("name"), severity: val("severity"), target: target, condition: c,
        enabled: f.elements.enabled.checked, auto_clear: f.elements.auto_clear.checked,
      };
      if (f.elements.village && val("village")) rule.village = val("village");
      if (f.elements.action_on.checked) {
        var params = null;
        if (val("action_params")) {
          try { params = JSON.parse(val("action_params")); } catch (_) { throw new Bad("action.rpc.params", f.dataset.badjson); }
        }
        rule.action = { rpc: { method: val("action_method"), params: params } };
      }
      if (f.elements.escalate_on.checked) {
        rule.escalate = {
          after_s: seconds("escalate_after_min", "escalate.after_s"),
          to: val("escalate_to").split(/[,，\s]+/).filter(Boolean),
        };
      }
      return rule;
    }

    f.addEventListener("submit", function (e) {
      e.preventDefault();
      clearErrors();
      var rule;
      try { rule = build(); } catch (err) {
        if (err instanceof Bad) { fieldError(err.field, err.msg); return; }
        throw err;
      }
      var id = f.dataset.id;
      var btn = f.querySelector('button[type="submit"]');
      btn.disabled = true;
      fetch(id ? "/api/rules/" + id : "/api/rules", {
        method: id ? "PUT" : "POST",
        credentials: "same-origin",
        headers: { "content-type": "application/json", "x-csrf-token": f.dataset.csrf },
        body: JSON.stringify(rule),
      }).then(function (r) {
        return r.json().catch(function () { return {}; }).then(function (body) {
          btn.disabled = false;
          if (r.ok) { location.href = "/rules?saved=" + (body.id || ""); return; }
          // A known error gets its sentence in the page's language, the API's own words after it.
          var local = body.error && f.getAttribute("data-e-" + body.error);
          fieldError(body.field, local ? local + "（" + (body.message || "") + "）" : body.message || String(r.status));
        });
      }, function () { btn.disabled = false; fieldError("", "offline"); });
    });
  }

  // ---- Web Push on this phone ----
  var push = document.querySelector("[data-push]");
  if (push) push.addEventListener("click", function () {
    var out = document.getElementById("push-status");
    function say(msg, bad) { out.textContent = msg; out.className = bad ? "error" : "notice"; }
    if (!("serviceWorker" in navigator) || !window.Notification) {
      say(push.dataset.unsupported, true);
      return;
    }
    push.disabled = true;
    // Allowing notifications is what matters: the pages then show alarms over
    // the village network (app.js). A push subscription adds delivery while the
    // app is closed, where the phone has a push service.
    Notification.requestPermission().then(function (perm) {
      if (perm !== "granted") throw new Error(push.dataset.denied);
      if (!("PushManager" in window)) return "local";
      return Promise.all([
        navigator.serviceWorker.register("/sw.js").then(function () { return navigator.serviceWorker.ready; }),
        fetch("/api/push/vapid-public-key").then(function (r) { return r.json(); }),
      ]).then(function (got) {
        return got[0].pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: b64url(got[1].public_key) });
      }).then(function (sub) {
        return fetch("/api/push/subscriptions", {
          method: "POST", credentials: "same-origin",
          headers: { "content-type": "application/json", "x-csrf-token": push.dataset.csrf },
          body: JSON.stringify(sub.toJSON()),
        }).then(function (r) {
          if (!r.ok) throw new Error(push.dataset.failed);
          return "push";
        });
      }, function () { return "local"; });
    }).then(function (how) {
      say(how === "push" ? push.dataset.ok : push.dataset.local, false);
    }).catch(function (e) {
      say((e && e.message) || push.dataset.failed, true);
    }).then(function () { push.disabled = false; });
  });
  function b64url(s) {
    var b = atob(s.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((s.length + 3) % 4));
    var out = new Uint8Array(b.length);
    for (var i = 0; i < b.length; i++) out[i] = b.charCodeAt(i);
    return out;
  }
})();
