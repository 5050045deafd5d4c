"use strict";

const express = require("express");
const { requireSession } = require("./session");
const users = require("./users");

const router = express.Router();

router.get("/profile", requireSession, async (req, res) => {
  const user = await users.byId(req.session.userId);
  res.json({ id: user.id, name: user.name, avatar: user.avatar || null });
});

module.exports = router;
