"use strict";

/** Rows (arrays of values) to CSV text. */
function toCsv(rows) {
  return rows.map((row) => row.join(",")).join("\n");
}

module.exports = { toCsv };
