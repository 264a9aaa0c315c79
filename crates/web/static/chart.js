// Draws every <script type="application/json" class="chart-data"> with uPlot into
// the element before it. Data is aggregated on the server: {"unit","x":[s],"series":[{"label","y":[]}]}.
(function () {
  "use strict";
  var COLORS = ["#0b5d1e", "#b3261e", "#1f4e9c", "#8a4b00"];
  function draw(root) {
    (root || document).querySelectorAll("script.chart-data").forEach(function (s) {
      var box = s.previousElementSibling;
      if (!box || box.dataset.drawn) return;
      var d; try { d = JSON.parse(s.textContent); } catch (_) { return; }
      box.dataset.drawn = "1";
      var w = Math.max(280, box.clientWidth || 320);
      var series = [{}].concat(d.series.map(function (x, i) {
        return { label: x.label, stroke: COLORS[i % COLORS.length], width: 2, dash: x.dash ? [6, 4] : undefined,
          value: function (u, v) { return v == null ? "–" : v.toFixed(1) + " " + d.unit; } };
      }));
      var data = [d.x].concat(d.series.map(function (x) { return x.y; }));
      new uPlot({ width: w, height: 220, series: series,
        axes: [{ size: 56, font: "14px sans-serif" }, { size: 52, font: "14px sans-serif" }],
        cursor: { points: { size: 8 } } }, data, box);
    });
  }
  document.addEventListener("DOMContentLoaded", function () { draw(); });
  document.addEventListener("htmx:afterSwap", function (e) { draw(e.target); });
})();
