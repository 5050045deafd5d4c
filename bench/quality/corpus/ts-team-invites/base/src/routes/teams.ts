import { Router, Request, Response, NextFunction } from "express";
import { db } from "../db";
import { requireUser } from "../auth";

export const teams = Router();

interface Team {
  id: string;
  name: string;
  ownerId: string;
  memberIds: string[];
}

teams.get("/teams/:id", requireUser, async (req: Request, res: Response) => {
  const team = await db.collection<Team>("teams").findOne({ id: req.params.id });
  if (!team || !team.memberIds.includes(req.user.id)) {
    return res.status(404).json({ error: "not found" });
  }
  res.json(team);
});
