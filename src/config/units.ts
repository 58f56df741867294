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
