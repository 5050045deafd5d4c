// Renders the OpenAPI schema as a plain list of operations. Ours, vendored with the app: the
// usual UIs (Swagger, Redoc, Scalar) load from CDNs that an air-gapped appliance cannot reach.
// Builds DOM nodes with textContent only (no innerHTML), so the schema cannot inject markup.
(function () {
  "use strict";
  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  }
  function render(root, schema) {
    root.textContent = "";
    root.appendChild(el("h2", "", (schema.info && schema.info.title) + " " + (schema.info && schema.info.version)));
    var paths = schema.paths || {};
    Object.keys(paths).sort().forEach(function (path) {
      Object.keys(paths[path]).forEach(function (method) {
        var op = paths[path][method];
        if (typeof op !== "object" || !op.responses) return;
        var card = el("section", "card op");
        var head = el("h3");
        head.appendChild(el("span", "badge method-" + method, method.toUpperCase()));
        head.appendChild(el("code", "", " " + path));
        card.appendChild(head);
        if (op.summary || op.description) card.appendChild(el("p", "", op.description || op.summary));
        var params = (op.parameters || []).filter(function (p) { return p.in !== "header" && p.in !== "cookie"; });
        if (params.length) {
          var list = el("ul");
          params.forEach(function (p) {
            var type = p.schema ? (p.schema.type || (p.schema.oneOf || []).map(function (s) { return s.type; }).join(" | ")) : "";
            list.appendChild(el("li", "", p.name + " (" + p.in + (p.required ? ", required" : "") + "): " + type));
          });
          card.appendChild(list);
        }
        card.appendChild(el("p", "muted", "Responses: " + Object.keys(op.responses).join(", ")));
        root.appendChild(card);
      });
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    var root = document.getElementById("api-docs");
    if (!root) return;
    fetch(root.getAttribute("data-schema"), { credentials: "same-origin" })
      .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
      .then(function (schema) { render(root, schema); })
      .catch(function (err) { root.textContent = "Could not load the schema: " + err.message; });
  });
})();
