export type OrderStatus = "draft" | "placed" | "paid" | "shipped" | "cancelled";

export interface OrderLine {
  sku: string;
  quantity: number;
  /** unit price in cents */
  unitPriceCents: number;
}

export interface Order {
  id: string;
  customerId: string;
  status: OrderStatus;
  currency: "EUR" | "USD" | "GBP";
  lines: OrderLine[];
  couponCode: string | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface Coupon {
  code: string;
  percentOff: number;
  validUntil: Date;
  maxUses: number;
  uses: number;
}

export class ValidationError extends Error {
  constructor(
    message: string,
    readonly field: string,
  ) {
    super(message);
    this.name = "ValidationError";
  }
}

const SKU = /^[A-Z0-9][A-Z0-9-]{1,31}$/;
const MAX_LINES = 100;
const MAX_QUANTITY = 999;

/** Validate the lines of a new or edited order; throws ValidationError naming the field. */
export function validateLines(lines: unknown): OrderLine[] {
  if (!Array.isArray(lines) || lines.length === 0) {
    throw new ValidationError("an order needs at least one line", "lines");
  }
  if (lines.length > MAX_LINES) {
    throw new ValidationError(`at most ${MAX_LINES} lines per order`, "lines");
  }
  const seen = new Set<string>();
  return lines.map((raw, i) => {
    const line = raw as Partial<OrderLine>;
    if (typeof line.sku !== "string" || !SKU.test(line.sku)) {
      throw new ValidationError("sku must be 2-32 upper-case letters, digits or dashes", `lines[${i}].sku`);
    }
    if (seen.has(line.sku)) {
      throw new ValidationError(`sku ${line.sku} appears twice`, `lines[${i}].sku`);
    }
    seen.add(line.sku);
    if (!Number.isInteger(line.quantity) || line.quantity! < 1 || line.quantity! > MAX_QUANTITY) {
      throw new ValidationError(`quantity must be 1-${MAX_QUANTITY}`, `lines[${i}].quantity`);
    }
    if (!Number.isInteger(line.unitPriceCents) || line.unitPriceCents! < 0) {
      throw new ValidationError("unitPriceCents must be a non-negative integer", `lines[${i}].unitPriceCents`);
    }
    return { sku: line.sku, quantity: line.quantity!, unitPriceCents: line.unitPriceCents! };
  });
}

/** Which status changes are allowed. */
export const TRANSITIONS: Record<OrderStatus, OrderStatus[]> = {
  draft: ["placed", "cancelled"],
  placed: ["paid", "cancelled"],
  paid: ["shipped"],
  shipped: [],
  cancelled: [],
};

export function canMove(from: OrderStatus, to: OrderStatus): boolean {
  return TRANSITIONS[from].includes(to);
}
