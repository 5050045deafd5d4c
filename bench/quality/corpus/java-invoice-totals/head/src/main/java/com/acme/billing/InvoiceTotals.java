package com.acme.billing;

import java.util.List;

/** Totals of an invoice, per currency, with VAT. */
public final class InvoiceTotals {
    private static final double VAT_RATE = 0.2;

    private InvoiceTotals() {
    }

    public static double net(List<InvoiceLine> lines, String currency) {
        double total = 0;
        for (InvoiceLine line : lines) {
            if (line.currency() == currency) {
                total += line.unitPrice() * line.quantity();
            }
        }
        return total;
    }

    public static double gross(List<InvoiceLine> lines, String currency) {
        double net = net(lines, currency);
        return Math.round(net * (1 + VAT_RATE) * 100) / 100;
    }
}
