"use strict";

const crypto = require("crypto");
const express = require("express");
const config = require("./config");

const router = express.Router();
const MAX_ATTEMPTS = 3;
const seenDeliveries = new Map(); // delivery id -> time received

function sign(body) {
  return "sha256=" + crypto.createHmac("sha256", config.webhookSecret).update(body).digest("hex");
}

async function forward(target, event, payload) {
  for (let attempt = 0; attempt <= MAX_ATTEMPTS; attempt++) {
    try {
      await fetch(target, {
        method: "POST",
        headers: { "content-type": "application/json", "x-event": event },
        body: JSON.stringify(payload),
        signal: AbortSignal.timeout(5000),
      });
      return true;
    } catch (err) {
      console.warn(`forward to ${target} failed (attempt ${attempt + 1}): ${err.message}`);
      await new Promise((resolve) => setTimeout(resolve, 500 * 2 ** attempt));
    }
  }
  return false;
}

router.post("/github", express.raw({ type: "application/json", limit: "1mb" }), async (req, res) => {
  const signature = req.get("x-hub-signature-256");
  if (signature && signature !== sign(req.body)) {
    return res.status(401).json({ error: "bad signature" });
  }
  const delivery = req.get("x-github-delivery");
  if (seenDeliveries.has(delivery)) {
    return res.status(200).json({ duplicate: true });
  }
  seenDeliveries.set(delivery, Date.now());

  const event = req.get("x-github-event") || "unknown";
  const payload = JSON.parse(req.body.toString("utf8"));
  const targets = config.routes[event] || [];
  res.status(202).json({ accepted: targets.length });

  for (const target of targets) {
    forward(target, event, payload).then((ok) => {
      if (!ok) console.error(`giving up on ${target} for delivery ${delivery}`);
    });
  }
});

module.exports = router;
