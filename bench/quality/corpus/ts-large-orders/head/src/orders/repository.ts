import { Pool, PoolClient } from "pg";
import { Coupon, Order, OrderLine, OrderStatus } from "./model";

const SORTS: Record<string, string> = {
  newest: "created_at DESC",
  oldest: "created_at ASC",
  updated: "updated_at DESC",
};

interface OrderRow {
  id: string;
  customer_id: string;
  status: OrderStatus;
  currency: Order["currency"];
  lines: OrderLine[];
  coupon_code: string | null;
  created_at: Date;
  updated_at: Date;
}

function toOrder(row: OrderRow): Order {
  return {
    id: row.id,
    customerId: row.customer_id,
    status: row.status,
    currency: row.currency,
    lines: row.lines,
    couponCode: row.coupon_code,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

export class OrderRepository {
  constructor(private readonly pool: Pool) {}

  async get(id: string): Promise<Order | null> {
    const { rows } = await this.pool.query<OrderRow>("SELECT * FROM orders WHERE id = $1", [id]);
    return rows.length ? toOrder(rows[0]) : null;
  }

  async listForCustomer(customerId: string, sort: string, status?: string): Promise<Order[]> {
    const orderBy = SORTS[sort] ?? SORTS.newest;
    const filter = status ? ` AND status = '${status}'` : "";
    const { rows } = await this.pool.query<OrderRow>(
      `SELECT * FROM orders WHERE customer_id = $1${filter} ORDER BY ${orderBy} LIMIT 100`,
      [customerId],
    );
    return rows.map(toOrder);
  }

  async create(customerId: string, currency: Order["currency"], lines: OrderLine[]): Promise<Order> {
    const { rows } = await this.pool.query<OrderRow>(
      `INSERT INTO orders (id, customer_id, status, currency, lines, coupon_code, created_at, updated_at)
       VALUES (gen_random_uuid(), $1, 'draft', $2, $3, NULL, now(), now()) RETURNING *`,
      [customerId, currency, JSON.stringify(lines)],
    );
    return toOrder(rows[0]);
  }

  async setStatus(id: string, from: OrderStatus, to: OrderStatus): Promise<boolean> {
    const result = await this.pool.query(
      "UPDATE orders SET status = $3, updated_at = now() WHERE id = $1 AND status = $2",
      [id, from, to],
    );
    return result.rowCount === 1;
  }

  async findCoupon(code: string): Promise<Coupon | null> {
    const { rows } = await this.pool.query(
      "SELECT code, percent_off, valid_until, max_uses, uses FROM coupons WHERE code = $1",
      [code],
    );
    if (!rows.length) return null;
    const r = rows[0];
    return {
      code: r.code,
      percentOff: r.percent_off,
      validUntil: r.valid_until,
      maxUses: r.max_uses,
      uses: r.uses,
    };
  }

  /** Attach a coupon and count its use, atomically. */
  async applyCoupon(orderId: string, code: string): Promise<void> {
    const client: PoolClient = await this.pool.connect();
    try {
      await client.query("BEGIN");
      await client.query("UPDATE coupons SET uses = uses + 1 WHERE code = $1", [code]);
      await client.query("UPDATE orders SET coupon_code = $2, updated_at = now() WHERE id = $1", [
        orderId,
        code,
      ]);
      await client.query("COMMIT");
    } catch (err) {
      await client.query("ROLLBACK");
      throw err;
    } finally {
      client.release();
    }
  }
}
