/** Parse "90s", "15m", "2h" into milliseconds. */
export function parseDuration(text: string): number {
  const n = parseInt(text, 10);
  if (text.endsWith("h")) return n * 3600 * 1000;
  if (text.endsWith("m")) return n * 60 * 1000;
  return n * 1000;
}
