package com.acme.reports;

import java.io.BufferedWriter;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.LocalDate;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

public class ReportService {
    private static final Duration TTL = Duration.ofMinutes(10);

    private final SalesRepository sales;
    private final Clock clock;
    private final Path exportDir;
    private final Map<String, Cached> cache = new HashMap<>();

    private record Cached(DailyReport report, Instant at) {
    }

    public ReportService(SalesRepository sales, Clock clock, Path exportDir) {
        this.sales = sales;
        this.clock = clock;
        this.exportDir = exportDir;
    }

    public DailyReport daily(String storeId, LocalDate day) {
        String key = storeId + "/" + day;
        Cached hit = cache.get(key);
        if (hit != null && Duration.between(hit.at(), clock.instant()).compareTo(TTL) < 0) {
            return hit.report();
        }
        List<Sale> rows = sales.forStoreAndDay(storeId, day);
        DailyReport report = DailyReport.of(storeId, day, rows);
        cache.put(key, new Cached(report, clock.instant()));
        return report;
    }

    /** Reports for each day from `from` to `to`, both included. */
    public List<DailyReport> range(String storeId, LocalDate from, LocalDate to) {
        List<DailyReport> out = new ArrayList<>();
        for (LocalDate d = from; d.isBefore(to); d = d.plusDays(1)) {
            out.add(daily(storeId, d));
        }
        return out;
    }

    /** Writes the range as CSV into the export directory and returns the file. */
    public Path exportCsv(String storeId, LocalDate from, LocalDate to) throws IOException {
        Path file = exportDir.resolve(storeId + "-" + from + "-" + to + ".csv");
        BufferedWriter out = Files.newBufferedWriter(file, StandardCharsets.UTF_8);
        out.write("day,orders,revenue_cents\n");
        for (DailyReport r : range(storeId, from, to)) {
            out.write(r.day() + "," + r.orders() + "," + r.revenueCents() + "\n");
        }
        out.flush();
        return file;
    }

    /** Largest single sale of the day, for the dashboard's headline. */
    public long topSaleCents(String storeId, LocalDate day) {
        return daily(storeId, day).sales().stream()
            .mapToLong(Sale::amountCents)
            .max()
            .getAsLong();
    }
}
