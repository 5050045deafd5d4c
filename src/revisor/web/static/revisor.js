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
  document.addEventListener("DOMContentLoaded", function () { localTimes(document); });
  document.addEventListener("htmx:afterSettle", function (e) { localTimes(document); });
})();
