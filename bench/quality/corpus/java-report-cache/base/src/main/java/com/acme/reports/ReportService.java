package com.acme.reports;

import java.time.LocalDate;
import java.util.List;

public class ReportService {
    private final SalesRepository sales;

    public ReportService(SalesRepository sales) {
        this.sales = sales;
    }

    public DailyReport daily(String storeId, LocalDate day) {
        List<Sale> rows = sales.forStoreAndDay(storeId, day);
        return DailyReport.of(storeId, day, rows);
    }
}
