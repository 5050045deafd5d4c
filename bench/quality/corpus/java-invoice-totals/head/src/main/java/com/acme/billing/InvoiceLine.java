package com.acme.billing;

public record InvoiceLine(String sku, int quantity, double unitPrice, String currency) {
}
