import { Coupon, Order } from "./model";

export interface Totals {
  subtotalCents: number;
  discountCents: number;
  taxCents: number;
  totalCents: number;
}

const TAX_RATE: Record<Order["currency"], number> = { EUR: 0.2, USD: 0.0, GBP: 0.2 };

/** Whether a coupon can be used now. */
export function couponUsable(coupon: Coupon, now: Date): boolean {
  return coupon.validUntil.getTime() > now.getTime() && coupon.uses <= coupon.maxUses;
}

/** Totals of an order in cents: subtotal, coupon discount, tax on the discounted amount. */
export function totals(order: Order, coupon: Coupon | null, now: Date): Totals {
  const subtotalCents = order.lines.reduce((sum, l) => sum + l.quantity * l.unitPriceCents, 0);
  const discountCents =
    coupon && couponUsable(coupon, now) ? Math.round((subtotalCents * coupon.percentOff) / 100) : 0;
  const taxable = subtotalCents - discountCents;
  const taxCents = Math.round(taxable * TAX_RATE[order.currency]);
  return { subtotalCents, discountCents, taxCents, totalCents: taxable + taxCents };
}

/** "12.34 EUR" for receipts. */
export function formatCents(cents: number, currency: string): string {
  const sign = cents < 0 ? "-" : "";
  const abs = Math.abs(cents);
  return `${sign}${Math.floor(abs / 100)}.${String(abs % 100).padStart(2, "0")} ${currency}`;
}

/** Split a refund across lines in proportion to their amounts, in whole cents. */
export function splitRefund(order: Order, refundCents: number): Map<string, number> {
  const amounts = order.lines.map((l) => l.quantity * l.unitPriceCents);
  const total = amounts.reduce((a, b) => a + b, 0);
  const shares = new Map<string, number>();
  let given = 0;
  order.lines.forEach((line, i) => {
    const share = i === order.lines.length - 1 ? refundCents - given : Math.floor((refundCents * amounts[i]) / total);
    shares.set(line.sku, share);
    given += share;
  });
  return shares;
}
