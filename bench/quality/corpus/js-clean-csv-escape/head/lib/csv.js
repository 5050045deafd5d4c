"use strict";

const NEEDS_QUOTES = /[",\r\n]/;
// Spreadsheet apps run cells starting with these as formulas (CSV injection).
const FORMULA_START = /^[=+\-@\t\r]/;

/**
 * One value as a CSV field (RFC 4180): null and undefined become empty, dates ISO 8601,
 * fields with a quote, comma or line break are quoted with inner quotes doubled, and text
 * that a spreadsheet would run as a formula is prefixed with a single quote.
 */
function field(value) {
  if (value === null || value === undefined) {
    return "";
  }
  let text = value instanceof Date ? value.toISOString() : String(value);
  if (typeof value === "string" && FORMULA_START.test(text)) {
    text = "'" + text;
  }
  return NEEDS_QUOTES.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** Rows (arrays of values) to CSV text with CRLF line ends, as RFC 4180 specifies. */
function toCsv(rows, { header } = {}) {
  const lines = [];
  if (header) {
    lines.push(header.map(field).join(","));
  }
  for (const row of rows) {
    if (!Array.isArray(row)) {
      throw new TypeError("each row must be an array");
    }
    lines.push(row.map(field).join(","));
  }
  return lines.length ? lines.join("\r\n") + "\r\n" : "";
}

module.exports = { toCsv, field };
