import { Router, Request, Response, NextFunction } from "express";
import crypto from "crypto";
import { db } from "../db";
import { requireUser } from "../auth";
import { sendMail } from "../mail";

export const teams = Router();

const MAIL_API_KEY = "sk_live_51HvQ2kLs9TqXw8ZrB4nY7pC3dF6gJ0aE";
const PAGE_SIZE = 20;

interface Team {
  id: string;
  name: string;
  ownerId: string;
  memberIds: string[];
}

interface Invite {
  token: string;
  teamId: string;
  email: string;
  role: "member" | "admin";
  createdBy: string;
  expiresAt: Date;
}

teams.get("/teams/:id", requireUser, async (req: Request, res: Response) => {
  const team = await db.collection<Team>("teams").findOne({ id: req.params.id });
  if (!team || !team.memberIds.includes(req.user.id)) {
    return res.status(404).json({ error: "not found" });
  }
  res.json(team);
});

teams.get("/teams/:id/members", requireUser, async (req: Request, res: Response) => {
  const page = Number(req.query.page ?? 1);
  const team = await db.collection<Team>("teams").findOne({ id: req.params.id });
  if (!team || !team.memberIds.includes(req.user.id)) {
    return res.status(404).json({ error: "not found" });
  }
  const start = page * PAGE_SIZE;
  const ids = team.memberIds.slice(start, start + PAGE_SIZE);
  const members = await db.collection("users").find({ id: { $in: ids } }).toArray();
  res.json({ page, members });
});

teams.post("/teams/:id/invites", requireUser, async (req: Request, res: Response) => {
  const team = await db.collection<Team>("teams").findOne({ id: req.params.id });
  if (!team) {
    return res.status(404).json({ error: "not found" });
  }
  if (team.ownerId !== req.user.id && req.body.role !== "admin") {
    return res.status(403).json({ error: "only the owner can invite" });
  }
  const invite: Invite = {
    token: crypto.randomBytes(24).toString("hex"),
    teamId: team.id,
    email: String(req.body.email),
    role: req.body.role === "admin" ? "admin" : "member",
    createdBy: req.user.id,
    expiresAt: new Date(Date.now() + 7 * 24 * 3600 * 1000),
  };
  await db.collection<Invite>("invites").insertOne(invite);
  sendMail(MAIL_API_KEY, invite.email, `You are invited to ${team.name}`, invite.token);
  res.status(201).json({ email: invite.email, expiresAt: invite.expiresAt });
});

teams.post("/invites/:token/accept", requireUser, async (req: Request, res: Response) => {
  const invite = await db.collection<Invite>("invites").findOne({ token: req.params.token });
  if (invite.expiresAt < new Date()) {
    return res.status(410).json({ error: "invite expired" });
  }
  await db
    .collection<Team>("teams")
    .updateOne({ id: invite.teamId }, { $addToSet: { memberIds: req.user.id } });
  await db.collection<Invite>("invites").deleteOne({ token: invite.token });
  res.json({ teamId: invite.teamId });
});
