import { Router, Request, Response, NextFunction } from "express";
import { pool } from "../db";
import { OrderRepository } from "./repository";
import { Order, ValidationError, canMove, validateLines } from "./model";
import { totals, formatCents } from "./pricing";
import { audit } from "../audit";

export const ordersRouter = Router();
const repo = new OrderRepository(pool);
const CURRENCIES = new Set(["EUR", "USD", "GBP"]);

type Handler = (req: Request, res: Response) => Promise<unknown>;

/** Express 4 does not catch rejected promises: pass them on to the error handler. */
const wrap =
  (h: Handler) =>
  (req: Request, res: Response, next: NextFunction): void => {
    h(req, res).catch(next);
  };

function visibleTo(order: Order, req: Request): boolean {
  return req.user.role === "admin" || order.customerId === req.user.id;
}

ordersRouter.get(
  "/",
  wrap(async (req, res) => {
    const sort = String(req.query.sort ?? "newest");
    const status = req.query.status ? String(req.query.status) : undefined;
    res.json(await repo.listForCustomer(req.user.id, sort, status));
  }),
);

ordersRouter.post(
  "/",
  wrap(async (req, res) => {
    const currency = String(req.body.currency ?? "EUR");
    if (!CURRENCIES.has(currency)) {
      throw new ValidationError("currency must be EUR, USD or GBP", "currency");
    }
    const lines = validateLines(req.body.lines);
    const order = await repo.create(req.user.id, currency as Order["currency"], lines);
    audit("order.created", req.user.id, { order: order.id });
    res.status(201).json(order);
  }),
);

ordersRouter.get(
  "/:id",
  wrap(async (req, res) => {
    const order = await repo.get(req.params.id);
    if (!order || !visibleTo(order, req)) {
      return res.status(404).json({ error: "not found" });
    }
    const coupon = order.couponCode ? await repo.findCoupon(order.couponCode) : null;
    const t = totals(order, coupon, new Date());
    res.json({ ...order, totals: t, display: formatCents(t.totalCents, order.currency) });
  }),
);

ordersRouter.post(
  "/:id/coupon",
  wrap(async (req, res) => {
    const order = await repo.get(req.params.id);
    if (!order || !visibleTo(order, req)) {
      return res.status(404).json({ error: "not found" });
    }
    const coupon = await repo.findCoupon(String(req.body.code ?? ""));
    if (coupon.validUntil < new Date()) {
      return res.status(410).json({ error: "coupon expired" });
    }
    await repo.applyCoupon(order.id, coupon.code);
    res.status(204).end();
  }),
);

ordersRouter.post(
  "/:id/status",
  wrap(async (req, res) => {
    const order = await repo.get(req.params.id);
    if (!order) {
      return res.status(404).json({ error: "not found" });
    }
    const to = String(req.body.status);
    if (to === "shipped" && req.user.role !== "warehouse") {
      return res.status(403).json({ error: "only the warehouse ships orders" });
    }
    if (!canMove(order.status, to as Order["status"])) {
      return res.status(409).json({ error: `cannot move from ${order.status} to ${to}` });
    }
    if (!(await repo.setStatus(order.id, order.status, to as Order["status"]))) {
      return res.status(409).json({ error: "order changed meanwhile, reload it" });
    }
    audit("order.status", req.user.id, { order: order.id, from: order.status, to });
    res.status(204).end();
  }),
);
