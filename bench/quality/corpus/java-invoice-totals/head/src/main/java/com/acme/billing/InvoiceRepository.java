package com.acme.billing;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;
import java.util.logging.Logger;
import javax.sql.DataSource;

public class InvoiceRepository {
    private static final Logger LOG = Logger.getLogger(InvoiceRepository.class.getName());
    private final DataSource dataSource;

    public InvoiceRepository(DataSource dataSource) {
        this.dataSource = dataSource;
    }

    public List<String> invoiceIdsFor(String customerId) throws SQLException {
        String sql = "SELECT id FROM invoices WHERE customer_id = ? ORDER BY issued_at";
        try (Connection conn = dataSource.getConnection();
             PreparedStatement stmt = conn.prepareStatement(sql)) {
            stmt.setString(1, customerId);
            try (ResultSet rs = stmt.executeQuery()) {
                List<String> ids = new ArrayList<>();
                while (rs.next()) {
                    ids.add(rs.getString("id"));
                }
                return ids;
            }
        }
    }

    public List<InvoiceLine> linesOf(String invoiceId) throws SQLException {
        Connection conn = dataSource.getConnection();
        PreparedStatement stmt = conn.prepareStatement(
            "SELECT sku, quantity, unit_price, currency FROM invoice_lines WHERE invoice_id = ?");
        stmt.setString(1, invoiceId);
        ResultSet rs = stmt.executeQuery();
        List<InvoiceLine> lines = new ArrayList<>();
        while (rs.next()) {
            lines.add(new InvoiceLine(
                rs.getString("sku"),
                rs.getInt("quantity"),
                rs.getDouble("unit_price"),
                rs.getString("currency")));
        }
        return lines;
    }

    public void markPaid(String invoiceId) {
        try (Connection conn = dataSource.getConnection();
             PreparedStatement stmt = conn.prepareStatement(
                 "UPDATE invoices SET status = 'PAID', paid_at = CURRENT_TIMESTAMP WHERE id = ?")) {
            stmt.setString(1, invoiceId);
            stmt.executeUpdate();
        } catch (SQLException e) {
            LOG.fine("could not mark invoice paid");
        }
    }
}
