// cunlink: run a SCORM 1.2 package with scorm-again and record its LMS calls
// on the server. The page has <div id="scorm" data-item data-csrf data-launch>.
(function () {
  var el = document.getElementById("scorm");
  if (!el || !window.Scorm12API) return;
  var item = el.getAttribute("data-item");
  var csrf = el.getAttribute("data-csrf");
  var calls = [];
  var api = new window.Scorm12API({ autocommit: false, logLevel: 5 });
  window.API = api;
  function flush() {
    if (!calls.length) return;
    var body = JSON.stringify({ calls: calls });
    calls = [];
    el.setAttribute("data-state", "saving");
    fetch("/api/school/scorm/" + item + "/calls", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: body
    }).then(function (r) { return r.json(); }).then(function (v) {
      el.setAttribute("data-state", v.completed ? "completed" : "saved");
    }).catch(function () { el.setAttribute("data-state", "error"); });
  }
  api.on("LMSInitialize", function () { calls.push({ call: "LMSInitialize" }); });
  api.on("LMSSetValue.cmi.*", function (element, value) {
    calls.push({ call: "LMSSetValue", element: String(element), value: String(value) });
  });
  api.on("LMSCommit", function () { calls.push({ call: "LMSCommit" }); flush(); });
  api.on("LMSFinish", function () { calls.push({ call: "LMSFinish" }); flush(); });
  var frame = document.createElement("iframe");
  frame.src = el.getAttribute("data-launch");
  frame.title = "SCORM";
  frame.style.cssText = "width:100%;height:75vh;border:0";
  el.appendChild(frame);
})();
