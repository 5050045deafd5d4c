import { describe, expect, it } from "vitest";
import { Coupon, Order, ValidationError, canMove, validateLines } from "../src/orders/model";
import { couponUsable, formatCents, splitRefund, totals } from "../src/orders/pricing";

const NOW = new Date("2026-11-01T12:00:00Z");

function order(lines: Order["lines"], currency: Order["currency"] = "EUR"): Order {
  return {
    id: "o-1",
    customerId: "c-1",
    status: "draft",
    currency,
    lines,
    couponCode: null,
    createdAt: NOW,
    updatedAt: NOW,
  };
}

function coupon(overrides: Partial<Coupon> = {}): Coupon {
  return {
    code: "WELCOME10",
    percentOff: 10,
    validUntil: new Date("2026-12-31T00:00:00Z"),
    maxUses: 100,
    uses: 0,
    ...overrides,
  };
}

describe("validateLines", () => {
  it("accepts well-formed lines", () => {
    const lines = validateLines([
      { sku: "BOLT-10", quantity: 3, unitPriceCents: 35 },
      { sku: "NUT-10", quantity: 10, unitPriceCents: 10 },
    ]);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toEqual({ sku: "BOLT-10", quantity: 3, unitPriceCents: 35 });
  });

  it("drops unknown properties", () => {
    const [line] = validateLines([{ sku: "BOLT-10", quantity: 1, unitPriceCents: 35, admin: true }]);
    expect(Object.keys(line).sort()).toEqual(["quantity", "sku", "unitPriceCents"]);
  });

  it.each([
    [[], "lines"],
    ["not a list", "lines"],
    [[{ sku: "bolt", quantity: 1, unitPriceCents: 1 }], "lines[0].sku"],
    [[{ sku: "BOLT-10", quantity: 0, unitPriceCents: 1 }], "lines[0].quantity"],
    [[{ sku: "BOLT-10", quantity: 1000, unitPriceCents: 1 }], "lines[0].quantity"],
    [[{ sku: "BOLT-10", quantity: 1.5, unitPriceCents: 1 }], "lines[0].quantity"],
    [[{ sku: "BOLT-10", quantity: 1, unitPriceCents: -1 }], "lines[0].unitPriceCents"],
    [[{ sku: "BOLT-10", quantity: 1, unitPriceCents: 9.99 }], "lines[0].unitPriceCents"],
    [
      [
        { sku: "BOLT-10", quantity: 1, unitPriceCents: 1 },
        { sku: "BOLT-10", quantity: 2, unitPriceCents: 1 },
      ],
      "lines[1].sku",
    ],
  ])("refuses %j naming %s", (lines, field) => {
    try {
      validateLines(lines);
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ValidationError);
      expect((err as ValidationError).field).toBe(field);
    }
  });

  it("caps the number of lines", () => {
    const many = Array.from({ length: 101 }, (_, i) => ({ sku: `SKU-${i}`, quantity: 1, unitPriceCents: 1 }));
    expect(() => validateLines(many)).toThrow(/at most 100/);
  });
});

describe("status transitions", () => {
  it("allows the happy path", () => {
    expect(canMove("draft", "placed")).toBe(true);
    expect(canMove("placed", "paid")).toBe(true);
    expect(canMove("paid", "shipped")).toBe(true);
  });

  it("refuses going back or leaving a final state", () => {
    expect(canMove("paid", "draft")).toBe(false);
    expect(canMove("shipped", "cancelled")).toBe(false);
    expect(canMove("cancelled", "placed")).toBe(false);
  });
});

describe("totals", () => {
  it("adds tax on the subtotal", () => {
    const t = totals(order([{ sku: "BOLT-10", quantity: 3, unitPriceCents: 35 }]), null, NOW);
    expect(t).toEqual({ subtotalCents: 105, discountCents: 0, taxCents: 21, totalCents: 126 });
  });

  it("applies a usable coupon before tax", () => {
    const t = totals(order([{ sku: "A-1", quantity: 1, unitPriceCents: 1000 }]), coupon(), NOW);
    expect(t).toEqual({ subtotalCents: 1000, discountCents: 100, taxCents: 180, totalCents: 1080 });
  });

  it("ignores an expired coupon", () => {
    const expired = coupon({ validUntil: new Date("2026-10-01T00:00:00Z") });
    const t = totals(order([{ sku: "A-1", quantity: 1, unitPriceCents: 1000 }]), expired, NOW);
    expect(t.discountCents).toBe(0);
  });

  it("charges no tax in USD", () => {
    const t = totals(order([{ sku: "A-1", quantity: 2, unitPriceCents: 250 }], "USD"), null, NOW);
    expect(t.totalCents).toBe(500);
  });
});

describe("couponUsable", () => {
  it("is false after the expiry date", () => {
    expect(couponUsable(coupon({ validUntil: new Date("2026-01-01T00:00:00Z") }), NOW)).toBe(false);
  });

  it("is true while uses remain", () => {
    expect(couponUsable(coupon({ uses: 99, maxUses: 100 }), NOW)).toBe(true);
  });
});

describe("formatCents", () => {
  it.each([
    [0, "0.00 EUR"],
    [5, "0.05 EUR"],
    [1234, "12.34 EUR"],
    [-250, "-2.50 EUR"],
  ])("formats %d as %s", (cents, text) => {
    expect(formatCents(cents, "EUR")).toBe(text);
  });
});

describe("splitRefund", () => {
  it("splits in proportion and gives the remainder to the last line", () => {
    const o = order([
      { sku: "A-1", quantity: 1, unitPriceCents: 100 },
      { sku: "B-1", quantity: 1, unitPriceCents: 200 },
    ]);
    const shares = splitRefund(o, 100);
    expect(shares.get("A-1")).toBe(33);
    expect(shares.get("B-1")).toBe(67);
  });

  it("never loses a cent", () => {
    const o = order([
      { sku: "A-1", quantity: 3, unitPriceCents: 333 },
      { sku: "B-1", quantity: 7, unitPriceCents: 111 },
      { sku: "C-1", quantity: 1, unitPriceCents: 1 },
    ]);
    const shares = splitRefund(o, 999);
    expect([...shares.values()].reduce((a, b) => a + b, 0)).toBe(999);
  });
});

describe("splitRefund edge cases", () => {
  it("gives a single line the whole refund", () => {
    const o = order([{ sku: "A-1", quantity: 4, unitPriceCents: 250 }]);
    expect(splitRefund(o, 730).get("A-1")).toBe(730);
  });

  it("gives a zero-priced line nothing but the remainder rule still holds", () => {
    const o = order([
      { sku: "FREE-1", quantity: 1, unitPriceCents: 0 },
      { sku: "A-1", quantity: 1, unitPriceCents: 500 },
    ]);
    const shares = splitRefund(o, 500);
    expect(shares.get("FREE-1")).toBe(0);
    expect(shares.get("A-1")).toBe(500);
  });
});

describe("formatCents in other currencies", () => {
  it("keeps the currency code as given", () => {
    expect(formatCents(99, "GBP")).toBe("0.99 GBP");
    expect(formatCents(100000, "USD")).toBe("1000.00 USD");
  });
});
