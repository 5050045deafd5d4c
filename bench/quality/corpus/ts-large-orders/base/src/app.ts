import express from "express";
import { pool } from "./db";
import { authenticate } from "./auth";

export const app = express();
app.use(express.json({ limit: "100kb" }));
app.use(authenticate);

app.get("/health", async (_req, res) => {
  await pool.query("SELECT 1");
  res.json({ ok: true });
});
