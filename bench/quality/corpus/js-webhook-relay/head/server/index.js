"use strict";

const express = require("express");
const config = require("./config");
const webhooks = require("./webhooks");

const app = express();

app.get("/health", (_req, res) => res.json({ ok: true }));
app.use("/hooks", webhooks);

app.listen(config.port, () => console.log(`listening on ${config.port}`));
