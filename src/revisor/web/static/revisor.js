/* Revisor dashboard: times in the viewer's time zone (UTC stays in the title, on hover).
   Loaded from 'self' under the CSP; no inline script anywhere. */
(function () {
  "use strict";
  var fmt = new Intl.DateTimeFormat("en-CA", {
    year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
    second: "2-digit", hourCycle: "h23", timeZoneName: "short"
  });
  function show(d) {  /* 2026-11-30 10:46:08 GMT+9: the same shape as the UTC title */
    var p = {};
    fmt.formatToParts(d).forEach(function (x) { p[x.type] = x.value; });
    return p.year + "-" + p.month + "-" + p.day + " " + p.hour + ":" + p.minute + ":" +
      p.second + " " + (p.timeZoneName || "");
  }
  function localTimes(root) {
    var times = root.querySelectorAll ? root.querySelectorAll("time[datetime]") : [];
    for (var i = 0; i < times.length; i++) {
      var t = times[i];
      if (t.getAttribute("data-local")) continue;
      var d = new Date(t.getAttribute("datetime"));
      if (isNaN(d.getTime())) continue;
      t.textContent = show(d);
      t.setAttribute("data-local", "1");
    }
  }
  /* Short tables (class "sortable") sort in the page: each header becomes a button. The long
     ones (jobs, audit) sort and page on the server. */
  function cellValue(row, i) {
    var cell = row.cells[i];
    if (!cell) return "";
    var t = cell.querySelector("time[datetime]");
    if (t) return t.getAttribute("datetime");
    return cell.innerText.trim();
  }
  function sortBy(table, index, th) {
    var body = table.tBodies[0];
    if (!body) return;
    var rows = Array.prototype.slice.call(body.rows).filter(function (r) { return r.cells.length > 1; });
    var asc = th.getAttribute("aria-sort") !== "ascending";
    rows.sort(function (a, b) {
      var x = cellValue(a, index), y = cellValue(b, index);
      var nx = parseFloat(x), ny = parseFloat(y);
      var c = (!isNaN(nx) && !isNaN(ny) && String(nx) === x && String(ny) === y) ? nx - ny : x.localeCompare(y);
      return asc ? c : -c;
    });
    rows.forEach(function (r) { body.appendChild(r); });
    var heads = table.tHead ? table.tHead.rows[0].cells : [];
    for (var i = 0; i < heads.length; i++) heads[i].setAttribute("aria-sort", "none");
    th.setAttribute("aria-sort", asc ? "ascending" : "descending");
  }
  function sortable(root) {
    var tables = root.querySelectorAll ? root.querySelectorAll("table.sortable") : [];
    for (var t = 0; t < tables.length; t++) {
      var table = tables[t];
      if (table.getAttribute("data-sortable-ready") || !table.tHead) continue;
      table.setAttribute("data-sortable-ready", "1");
      var heads = table.tHead.rows[0].cells;
      for (var i = 0; i < heads.length; i++) {
        (function (th, index) {
          if (!th.innerText.trim() || th.querySelector(".visually-hidden")) return;
          var b = document.createElement("button");
          b.type = "button";
          b.className = "sort";
          b.textContent = th.textContent;
          th.textContent = "";
          th.appendChild(b);
          th.setAttribute("aria-sort", "none");
          b.addEventListener("click", function () { sortBy(table, index, th); });
        })(heads[i], i);
      }
    }
  }
  document.addEventListener("DOMContentLoaded", function () { localTimes(document); sortable(document); });
  document.addEventListener("htmx:afterSettle", function () { localTimes(document); sortable(document); });
})();
