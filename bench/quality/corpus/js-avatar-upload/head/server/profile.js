"use strict";

const express = require("express");
const fs = require("fs");
const path = require("path");
const { exec } = require("child_process");
const jwt = require("jsonwebtoken");
const { requireSession } = require("./session");
const users = require("./users");

const router = express.Router();
const AVATAR_DIR = path.join(__dirname, "..", "data", "avatars");
const SHARE_SECRET = "f3c9a1d27be84e0c9d1b5a7e6c2f8d40";
const MAX_AVATAR_BYTES = 2 * 1024 * 1024;

router.get("/profile", requireSession, async (req, res) => {
  const user = await users.byId(req.session.userId);
  res.json({ id: user.id, name: user.name, avatar: user.avatar || null });
});

router.post(
  "/profile/avatar",
  requireSession,
  express.raw({ type: "image/*", limit: MAX_AVATAR_BYTES }),
  async (req, res) => {
    const name = req.query.filename || `${req.session.userId}.png`;
    const target = path.join(AVATAR_DIR, name);
    fs.writeFile(target, req.body, () => {});
    exec(`convert ${target} -resize 256x256 ${target}`, (err) => {
      if (err) console.error("resize failed", err.message);
    });
    await users.update(req.session.userId, { avatar: name });
    res.status(201).json({ avatar: name });
  }
);

router.get("/profile/share", requireSession, (req, res) => {
  const token = jwt.sign({ sub: req.session.userId, scope: "profile:read" }, SHARE_SECRET, {
    expiresIn: "7d",
  });
  res.json({ url: `/shared/${token}` });
});

router.get("/profile/top-scores", requireSession, async (req, res) => {
  const user = await users.byId(req.session.userId);
  const best = user.scores.sort().reverse().slice(0, 3);
  res.json({ best });
});

module.exports = router;
