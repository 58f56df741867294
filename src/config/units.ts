/** Prometheus-style durations (`30s`, `5m`, `1h30m`, `250ms`) and byte sizes (`10MiB`, `512KB`). */

const DURATION_UNITS_MS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
  y: 31_536_000_000,
};

const DURATION_RE = /^(?:(\d+)(ms|s|m|h|d|w|y))+$/;
const DURATION_PART_RE = /(\d+)(ms|s|m|h|d|w|y)/g;

/** Parse a Prometheus duration into milliseconds; undefined when it is not one. `0` alone is allowed. */
export function parseDurationMs(text: string): number | undefined {
  if (text === '0') return 0;
  if (!DURATION_RE.test(text)) return undefined;
  let total = 0;
  for (const m of text.matchAll(DURATION_PART_RE)) {
    total += Number(m[1]) * (DURATION_UNITS_MS[m[2] as string] as number);
  }
  return total;
}

const BYTE_UNITS: Record<string, number> = {
  '': 1,
  B: 1,
  KB: 1000,
  MB: 1000 ** 2,
  GB: 1000 ** 3,
  KiB: 1024,
  MiB: 1024 ** 2,
  GiB: 1024 ** 3,
};

const BYTES_RE = /^(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|KiB|MiB|GiB)?$/;

/** Parse a byte size (`1048576`, `10MiB`, `512KB`); undefined when it is not one. */
export function parseBytes(text: string | number): number | undefined {
  if (typeof text === 'number') return Number.isSafeInteger(text) && text >= 0 ? text : undefined;
  const m = BYTES_RE.exec(text.trim());
  if (!m) return undefined;
  return Math.floor(Number(m[1]) * (BYTE_UNITS[m[2] ?? ''] as number));
}

const RFC3339_RE = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/;

/**
 * An RFC 3339 date-time (`2024-05-01T12:00:00Z`, `2024-05-01T14:00:00.5+02:00`) in ms; undefined
 * when it is not one. Checked field by field: `Date.parse` would turn 2024-02-31 into March 2nd.
 */
export function parseRfc3339(text: string): number | undefined {
  const m = RFC3339_RE.exec(text);
  if (m === null) return undefined;
  const n = (i: number): number => Number(m[i] ?? '0');
  const [year, month, day, hour, minute, second, offsetHours, offsetMinutes] = [n(1), n(2), n(3), n(4), n(5), n(6), n(10), n(11)];
  const validDate = month >= 1 && month <= 12 && day >= 1 && day <= daysInMonth(year, month);
  // Second 60 (a leap second) is valid RFC 3339 but has no Date; it is refused rather than shifted.
  const validTime = hour <= 23 && minute <= 59 && second <= 59 && offsetHours <= 23 && offsetMinutes <= 59;
  if (!validDate || !validTime) return undefined;
  const fractionMs = m[7] === undefined ? 0 : Math.floor(Number(`0${m[7]}`) * 1000);
  const offsetMs = m[8] === undefined ? (m[9] === '-' ? -1 : 1) * (offsetHours * 60 + offsetMinutes) * 60_000 : 0;
  return Date.UTC(year, month - 1, day, hour, minute, second, fractionMs) - offsetMs;
}

function daysInMonth(year: number, month: number): number {
  // Day 0 of the next month is the last day of this one.
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

/** A point in time as operators type it: a duration back from `nowMs` (`24h`), or an RFC 3339 time. */
export function parseTimeBack(text: string, nowMs: number): number | undefined {
  const durationMs = parseDurationMs(text);
  if (durationMs !== undefined) return nowMs - durationMs;
  return parseRfc3339(text);
}
