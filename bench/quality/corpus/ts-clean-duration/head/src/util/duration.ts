const UNIT_MS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60 * 1000,
  h: 3600 * 1000,
  d: 24 * 3600 * 1000,
};

const PART = /(\d+)(ms|s|m|h|d)/g;
const WHOLE = /^(?:\d+(?:ms|s|m|h|d))+$/;

export class DurationError extends Error {
  constructor(readonly input: string) {
    super(`not a duration: ${JSON.stringify(input)} (expected e.g. "90s", "1h30m", "250ms")`);
    this.name = "DurationError";
  }
}

/**
 * Parse "90s", "15m", "1h30m" or "250ms" into milliseconds.
 *
 * The whole string must be made of number+unit parts; anything else (an empty string, a bare
 * number, a negative value, an unknown unit) throws DurationError instead of silently becoming
 * seconds, which is what the previous version did with "15 min" (15 seconds).
 */
export function parseDuration(text: string): number {
  const input = text.trim();
  if (!WHOLE.test(input)) {
    throw new DurationError(text);
  }
  let total = 0;
  for (const [, amount, unit] of input.matchAll(PART)) {
    total += Number(amount) * UNIT_MS[unit];
  }
  if (!Number.isSafeInteger(total)) {
    throw new DurationError(text);
  }
  return total;
}

/** The inverse, for logs and error messages: 5400000 -> "1h30m". */
export function formatDuration(ms: number): string {
  if (!Number.isInteger(ms) || ms < 0) {
    throw new RangeError(`cannot format ${ms} ms`);
  }
  if (ms === 0) {
    return "0s";
  }
  const parts: string[] = [];
  let rest = ms;
  for (const unit of ["d", "h", "m", "s", "ms"]) {
    const size = UNIT_MS[unit];
    const count = Math.floor(rest / size);
    if (count > 0) {
      parts.push(`${count}${unit}`);
      rest -= count * size;
    }
  }
  return parts.join("");
}
