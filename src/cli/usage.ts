/**
 * `tributary usage`: accepted and rejected data per tenant, cluster and hour, read from the state
 * database (the `usage` table the server's UsageRecorder flushes into). Safe while the server runs
 * (WAL: it reads beside the server's writes).
 *
 * Usage is stored per hour, so a range selects whole hours: every hour that overlaps
 * [--since, --until) is shown with all its counts. `--group day|total` sums those hours.
 *
 * Exit codes follow DESIGN.md and `tributary token`: 0 ok, 1 runtime failure, 2 usage or config error.
 */
import { type Command, Option } from 'commander';
import { parseTimeBack } from '../config/units.js';
import { UsageRepo } from '../state/usage-repo.js';
import type { UsageDelta, UsageRow } from '../usage/types.js';
import { formatTable, outputOf } from './output.js';
import { formatTime, isoOrNull, type StateOptions, stateSource, usageError, withDatabase, withStateOptions } from './state.js';
import { tributaryExitOverride } from './token.js';

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

const GROUPS = ['hour', 'day', 'total'] as const;
const FORMATS = ['table', 'json', 'csv'] as const;
type Group = (typeof GROUPS)[number];
type Format = (typeof FORMATS)[number];

interface UsageOptions extends StateOptions {
  readonly tenant?: string;
  readonly since: string;
  readonly until?: string;
  readonly group: Group;
  readonly format: Format;
}

const HELP_AFTER = `
--since and --until take a duration back from now (30m, 24h, 7d) or an RFC 3339 timestamp
(2024-05-01T00:00:00Z). Usage is kept per UTC hour: every hour that overlaps the range is shown
with all of its counts.

The running server writes the usage it counted to the state database every usage.flush_interval
(default 10s) and at shutdown, so the last seconds may not be in the file yet; GET /admin/v1/usage
on the server includes them.

Examples:
  tributary usage --data-dir ./data --since 7d --group day
  tributary usage --config tributary.yml --tenant team-a --since 2024-05-01T00:00:00Z --group total --format csv
`;

/** Add `usage` to `program` (same error contract as `registerTokenCommands`). */
export function registerUsageCommand(program: Command): void {
  withStateOptions(
    program
      .command('usage')
      .description('show accepted and rejected samples, series and requests per tenant, cluster and hour')
      .exitOverride(tributaryExitOverride)
      .option('--tenant <tenant>', 'only this tenant')
      .option('--since <duration|timestamp>', 'from this long ago (30m, 24h, 7d) or this RFC 3339 time', '24h')
      .option('--until <duration|timestamp>', 'up to this long ago or this RFC 3339 time (default: now)')
      .addOption(new Option('--group <group>', 'hour: per tenant, cluster and hour; day: summed per UTC day; total: summed over the range').choices(GROUPS).default('hour'))
      .addOption(new Option('--format <format>', 'output format').choices(FORMATS).default('table'))
      .addHelpText('after', HELP_AFTER),
  ).action((options: UsageOptions, command: Command) => showUsage(options, command));
}

function showUsage(options: UsageOptions, command: Command): void {
  const nowMs = Date.now();
  const sinceMs = parseTimeOption(command, '--since', options.since, nowMs);
  const untilMs = options.until === undefined ? nowMs : parseTimeOption(command, '--until', options.until, nowMs);
  if (sinceMs >= untilMs) {
    usageError(command, `option --since (${formatTime(sinceMs)}) must be before --until (${formatTime(untilMs)})`);
  }
  const tenant = options.tenant?.trim();
  if (tenant === '') usageError(command, 'option --tenant must not be empty');

  const rows = withDatabase(options, (db) => new UsageRepo(db).query({ tenant, sinceMs, untilMs }));
  const lines = groupRows(rows, options.group);
  const io = outputOf(command);
  switch (options.format) {
    case 'json':
      io.out(`${JSON.stringify(lines.map((l) => Object.fromEntries(fieldsOf(l, options.group))), null, 2)}\n`);
      return;
    case 'csv':
      io.out(formatCsv(lines, options.group));
      return;
    case 'table':
      if (lines.length === 0) {
        const whose = tenant === undefined ? '' : ` for tenant "${tenant}"`;
        io.err(`No usage recorded${whose} from ${formatTime(sinceMs)} to ${formatTime(untilMs)} in ${stateSource(options)}.\n`);
        return;
      }
      io.out(formatUsageTable(lines, options.group));
      return;
  }
}

// ---- --since / --until ----

/** A duration back from `nowMs`, or an RFC 3339 timestamp; anything else is a usage error. */
function parseTimeOption(command: Command, flag: string, value: string, nowMs: number): number {
  const ms = parseTimeBack(value.trim(), nowMs);
  if (ms !== undefined) return ms;
  return usageError(command, `option ${flag}: "${value}" is neither a duration (30m, 24h, 7d) nor an RFC 3339 timestamp (2024-05-01T00:00:00Z)`);
}

// ---- grouping ----

/** One output line: one hour, one day or the whole range of a (tenant, cluster). */
interface UsageLine extends UsageDelta {
  readonly tenant: string;
  readonly cluster: string;
  /** The hour or the day (its start) this line sums; undefined for `total`. */
  readonly periodStartMs: number | undefined;
  /** The hours summed: start of the first, end of the last. */
  readonly fromMs: number;
  readonly toMs: number;
  /** The largest of the hours' maxima; undefined when no hour tracked it. */
  readonly activeSeries: number | undefined;
}

/** Sum hourly rows per (period, tenant, cluster), ordered by period, tenant, cluster. */
function groupRows(rows: readonly UsageRow[], group: Group): UsageLine[] {
  const byKey = new Map<string, UsageLine>();
  for (const row of rows) {
    const periodStartMs = periodOf(row.hourStartMs, group);
    const key = JSON.stringify([periodStartMs ?? null, row.tenant, row.cluster]);
    const line = fromRow(row, periodStartMs);
    const seen = byKey.get(key);
    byKey.set(key, seen === undefined ? line : merge(seen, line));
  }
  return [...byKey.values()].sort(
    (a, b) => (a.periodStartMs ?? 0) - (b.periodStartMs ?? 0) || compareStrings(a.tenant, b.tenant) || compareStrings(a.cluster, b.cluster),
  );
}

function periodOf(hourStartMs: number, group: Group): number | undefined {
  switch (group) {
    case 'hour':
      return hourStartMs;
    case 'day':
      return Math.floor(hourStartMs / DAY_MS) * DAY_MS;
    case 'total':
      return undefined;
  }
}

function fromRow(row: UsageRow, periodStartMs: number | undefined): UsageLine {
  return { ...row, periodStartMs, fromMs: row.hourStartMs, toMs: row.hourStartMs + HOUR_MS };
}

function merge(a: UsageLine, b: UsageLine): UsageLine {
  return {
    tenant: a.tenant,
    cluster: a.cluster,
    periodStartMs: a.periodStartMs,
    fromMs: Math.min(a.fromMs, b.fromMs),
    toMs: Math.max(a.toMs, b.toMs),
    ...sumCounters([a, b]),
    activeSeries: maxDefined(a.activeSeries, b.activeSeries),
  };
}

function sumCounters(lines: readonly UsageDelta[]): UsageDelta {
  const sum = (pick: (d: UsageDelta) => number): number => lines.reduce((n, d) => n + pick(d), 0);
  return {
    acceptedSamples: sum((d) => d.acceptedSamples),
    rejectedSamples: sum((d) => d.rejectedSamples),
    acceptedSeries: sum((d) => d.acceptedSeries),
    rejectedSeries: sum((d) => d.rejectedSeries),
    requests: sum((d) => d.requests),
    rejectedRequests: sum((d) => d.rejectedRequests),
  };
}

function maxDefined(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return Math.max(a, b);
}

/** By UTF-16 code unit: plain and locale-independent, like the database's ordering of ASCII names. */
function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

// ---- output ----

/** The counter columns: JSON/CSV name, table heading, value. */
const COUNTERS: readonly (readonly [string, string, (d: UsageDelta) => number])[] = [
  ['accepted_samples', 'ACCEPTED SAMPLES', (d) => d.acceptedSamples],
  ['rejected_samples', 'REJECTED SAMPLES', (d) => d.rejectedSamples],
  ['accepted_series', 'ACCEPTED SERIES', (d) => d.acceptedSeries],
  ['rejected_series', 'REJECTED SERIES', (d) => d.rejectedSeries],
  ['requests', 'REQUESTS', (d) => d.requests],
  ['rejected_requests', 'REJECTED REQUESTS', (d) => d.rejectedRequests],
];

type FieldValue = string | number | null;

/** A line's JSON and CSV fields, in column order. */
function fieldsOf(line: UsageLine, group: Group): [string, FieldValue][] {
  return [
    ...periodFields(line, group),
    ['tenant', line.tenant],
    ['cluster', line.cluster],
    ...COUNTERS.map(([name, , pick]): [string, FieldValue] => [name, pick(line)]),
    ['active_series', line.activeSeries ?? null],
  ];
}

function periodFields(line: UsageLine, group: Group): [string, FieldValue][] {
  const range: [string, FieldValue][] = [
    ['from', isoOrNull(line.fromMs)],
    ['to', isoOrNull(line.toMs)],
  ];
  switch (group) {
    case 'hour':
      return [['hour', isoOrNull(line.periodStartMs)]];
    case 'day':
      return [['day', formatDay(line.periodStartMs)], ...range];
    case 'total':
      return range;
  }
}

/** The header (the JSON names), then one record per line; RFC 4180 (CRLF line ends, quoting as needed). */
function formatCsv(lines: readonly UsageLine[], group: Group): string {
  const header = fieldsOf(emptyLine(), group).map(([name]) => name);
  const records = lines.map((l) => fieldsOf(l, group).map(([, value]) => (value === null ? '' : String(value))));
  return [header, ...records].map((fields) => `${fields.map(csvField).join(',')}\r\n`).join('');
}

/** RFC 4180: a field holding a comma, a double quote or a line break is quoted, its quotes doubled. */
function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

/** A line with no data, for the CSV header (only its field names are used). */
function emptyLine(): UsageLine {
  return { ...sumCounters([]), tenant: '', cluster: '', periodStartMs: 0, fromMs: 0, toMs: 0, activeSeries: undefined };
}

function formatUsageTable(lines: readonly UsageLine[], group: Group): string {
  const periodHeadings = group === 'hour' ? ['HOUR'] : group === 'day' ? ['DAY'] : ['FROM', 'TO'];
  const header = [...periodHeadings, 'TENANT', 'CLUSTER', ...COUNTERS.map(([, heading]) => heading), 'ACTIVE SERIES'];
  const rows = lines.map((l) => [
    ...periodCells(l, group),
    l.tenant,
    l.cluster === '' ? '-' : l.cluster,
    ...COUNTERS.map(([, , pick]) => String(pick(l))),
    l.activeSeries === undefined ? '-' : String(l.activeSeries),
  ]);
  if (lines.length > 1) rows.push(totalsRow(lines, periodHeadings.length));
  return formatTable(header, rows);
}

function periodCells(line: UsageLine, group: Group): string[] {
  switch (group) {
    case 'hour':
      return [formatTime(line.periodStartMs)];
    case 'day':
      return [formatDay(line.periodStartMs)];
    case 'total':
      return [formatTime(line.fromMs), formatTime(line.toMs)];
  }
}

/**
 * The sums of the counters. Active series stay `-`: each row holds a maximum taken at its own
 * moment, and neither their sum nor their maximum is the active series of anything.
 */
function totalsRow(lines: readonly UsageLine[], periodColumns: number): string[] {
  const sums = sumCounters(lines);
  const periodCellsOfTotal = ['TOTAL', ...Array<string>(periodColumns - 1).fill('')];
  return [...periodCellsOfTotal, '', '', ...COUNTERS.map(([, , pick]) => String(pick(sums))), '-'];
}

/** YYYY-MM-DD (UTC) of a day's start. */
function formatDay(ms: number | undefined): string {
  return ms === undefined ? '-' : new Date(ms).toISOString().slice(0, 10);
}
