import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { closeDatabase, openDatabase } from '../../src/state/db.js';
import { UsageRepo } from '../../src/state/usage-repo.js';
import type { UsageRow } from '../../src/usage/types.js';
import { type CliResult, runUsageCli } from '../support/run-cli.js';
import { usageRow } from '../support/usage-rows.js';

const HOUR = 3_600_000;
/** 2024-05-01T22:00:00Z: two hours before a UTC day boundary, so --group day has two days. */
const T0 = Date.UTC(2024, 4, 1, 22);
/** A --since/--until pair covering every seeded fixed-time row. */
const RANGE = ['--since', '2024-05-01T00:00:00Z', '--until', '2024-05-03T00:00:00Z'];

let dir: string;
let dataDir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tributary-cli-usage-'));
  dataDir = join(dir, 'data');
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const row = (fields: Partial<UsageRow> = {}): UsageRow => usageRow({ hourStartMs: T0, ...fields });

function seed(rows: readonly UsageRow[]): void {
  const db = openDatabase(dataDir);
  try {
    new UsageRepo(db).add(rows);
  } finally {
    closeDatabase(db);
  }
}

/**
 * acme/eu-1 at 22h, 23h (May 1st) and 00h (May 2nd); acme/'' (a refused request) at 23h;
 * globex/"us-1,east" at 23h.
 */
function seedFixed(): void {
  seed([
    row({ acceptedSamples: 1000, rejectedSamples: 10, acceptedSeries: 100, rejectedSeries: 1, requests: 10, rejectedRequests: 1, activeSeries: 90 }),
    row({ hourStartMs: T0 + HOUR, acceptedSamples: 2000, rejectedSamples: 20, acceptedSeries: 200, rejectedSeries: 2, requests: 20, rejectedRequests: 2, activeSeries: 120 }),
    row({ hourStartMs: T0 + 2 * HOUR, acceptedSamples: 4000, rejectedSamples: 40, acceptedSeries: 400, rejectedSeries: 4, requests: 40, rejectedRequests: 4, activeSeries: 110 }),
    row({ cluster: '', hourStartMs: T0 + HOUR, rejectedSamples: 5, rejectedSeries: 5, requests: 1, rejectedRequests: 1 }),
    row({ tenant: 'globex', cluster: 'us-1,east', hourStartMs: T0 + HOUR, acceptedSamples: 7, acceptedSeries: 7, requests: 1 }),
  ]);
}

/** The table's lines split into cells (two or more spaces apart). */
const cells = (stdout: string): string[][] =>
  stdout
    .trimEnd()
    .split('\n')
    .map((l) => l.split(/ {2,}/));

describe('tributary usage', () => {
  it('prints a table per tenant, cluster and hour, with a totals line', async () => {
    seedFixed();
    const result = await runUsageCli(['usage', '--data-dir', dataDir, ...RANGE]);
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(cells(result.stdout)).toEqual([
      ['HOUR', 'TENANT', 'CLUSTER', 'ACCEPTED SAMPLES', 'REJECTED SAMPLES', 'ACCEPTED SERIES', 'REJECTED SERIES', 'REQUESTS', 'REJECTED REQUESTS', 'ACTIVE SERIES'],
      ['2024-05-01T22:00:00Z', 'acme', 'eu-1', '1000', '10', '100', '1', '10', '1', '90'],
      ['2024-05-01T23:00:00Z', 'acme', '-', '0', '5', '0', '5', '1', '1', '-'],
      ['2024-05-01T23:00:00Z', 'acme', 'eu-1', '2000', '20', '200', '2', '20', '2', '120'],
      ['2024-05-01T23:00:00Z', 'globex', 'us-1,east', '7', '0', '7', '0', '1', '0', '-'],
      ['2024-05-02T00:00:00Z', 'acme', 'eu-1', '4000', '40', '400', '4', '40', '4', '110'],
      ['TOTAL', '7007', '75', '707', '12', '72', '8', '-'],
    ]);
  });

  it('prints no totals line for a single row', async () => {
    seed([row({ requests: 3 })]);
    const result = await runUsageCli(['usage', '--data-dir', dataDir, ...RANGE]);
    expect(cells(result.stdout)).toHaveLength(2);
    expect(result.stdout).not.toContain('TOTAL');
  });

  it('prints JSON with snake_case keys, ISO hours and null for unknown active series', async () => {
    seedFixed();
    const result = await runUsageCli(['usage', '--data-dir', dataDir, ...RANGE, '--format', 'json', '--tenant', 'acme']);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual([
      { hour: '2024-05-01T22:00:00.000Z', tenant: 'acme', cluster: 'eu-1', accepted_samples: 1000, rejected_samples: 10, accepted_series: 100, rejected_series: 1, requests: 10, rejected_requests: 1, active_series: 90 },
      { hour: '2024-05-01T23:00:00.000Z', tenant: 'acme', cluster: '', accepted_samples: 0, rejected_samples: 5, accepted_series: 0, rejected_series: 5, requests: 1, rejected_requests: 1, active_series: null },
      { hour: '2024-05-01T23:00:00.000Z', tenant: 'acme', cluster: 'eu-1', accepted_samples: 2000, rejected_samples: 20, accepted_series: 200, rejected_series: 2, requests: 20, rejected_requests: 2, active_series: 120 },
      { hour: '2024-05-02T00:00:00.000Z', tenant: 'acme', cluster: 'eu-1', accepted_samples: 4000, rejected_samples: 40, accepted_series: 400, rejected_series: 4, requests: 40, rejected_requests: 4, active_series: 110 },
    ]);
  });

  it('prints RFC 4180 CSV: a header, CRLF line ends, a field with a comma quoted', async () => {
    seedFixed();
    const result = await runUsageCli(['usage', '--data-dir', dataDir, ...RANGE, '--format', 'csv', '--tenant', 'globex']);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(
      'hour,tenant,cluster,accepted_samples,rejected_samples,accepted_series,rejected_series,requests,rejected_requests,active_series\r\n' +
        '2024-05-01T23:00:00.000Z,globex,"us-1,east",7,0,7,0,1,0,\r\n',
    );
  });

  it('quotes a field holding a double quote or a line break, doubling the quotes', async () => {
    seed([row({ cluster: 'say "hi"\nthere', requests: 1 })]);
    const result = await runUsageCli(['usage', '--data-dir', dataDir, ...RANGE, '--format', 'csv']);
    expect(result.stdout.split('\r\n')[1]).toBe('2024-05-01T22:00:00.000Z,acme,"say ""hi""\nthere",0,0,0,0,1,0,');
  });

  it('sums per UTC day with --group day', async () => {
    seedFixed();
    const table = await runUsageCli(['usage', '--data-dir', dataDir, ...RANGE, '--group', 'day', '--tenant', 'acme']);
    expect(cells(table.stdout)).toEqual([
      ['DAY', 'TENANT', 'CLUSTER', 'ACCEPTED SAMPLES', 'REJECTED SAMPLES', 'ACCEPTED SERIES', 'REJECTED SERIES', 'REQUESTS', 'REJECTED REQUESTS', 'ACTIVE SERIES'],
      ['2024-05-01', 'acme', '-', '0', '5', '0', '5', '1', '1', '-'],
      ['2024-05-01', 'acme', 'eu-1', '3000', '30', '300', '3', '30', '3', '120'],
      ['2024-05-02', 'acme', 'eu-1', '4000', '40', '400', '4', '40', '4', '110'],
      ['TOTAL', '7000', '75', '700', '12', '71', '8', '-'],
    ]);

    const json = await runUsageCli(['usage', '--data-dir', dataDir, ...RANGE, '--group', 'day', '--tenant', 'acme', '--format', 'json']);
    expect(JSON.parse(json.stdout)).toEqual([
      expect.objectContaining({ day: '2024-05-01', from: '2024-05-01T23:00:00.000Z', to: '2024-05-02T00:00:00.000Z', cluster: '', requests: 1 }),
      expect.objectContaining({ day: '2024-05-01', from: '2024-05-01T22:00:00.000Z', to: '2024-05-02T00:00:00.000Z', cluster: 'eu-1', requests: 30, active_series: 120 }),
      expect.objectContaining({ day: '2024-05-02', from: '2024-05-02T00:00:00.000Z', to: '2024-05-02T01:00:00.000Z', cluster: 'eu-1', requests: 40, active_series: 110 }),
    ]);
  });

  it('sums over the range per tenant and cluster with --group total', async () => {
    seedFixed();
    const table = await runUsageCli(['usage', '--data-dir', dataDir, ...RANGE, '--group', 'total']);
    expect(cells(table.stdout)).toEqual([
      ['FROM', 'TO', 'TENANT', 'CLUSTER', 'ACCEPTED SAMPLES', 'REJECTED SAMPLES', 'ACCEPTED SERIES', 'REJECTED SERIES', 'REQUESTS', 'REJECTED REQUESTS', 'ACTIVE SERIES'],
      ['2024-05-01T23:00:00Z', '2024-05-02T00:00:00Z', 'acme', '-', '0', '5', '0', '5', '1', '1', '-'],
      ['2024-05-01T22:00:00Z', '2024-05-02T01:00:00Z', 'acme', 'eu-1', '7000', '70', '700', '7', '70', '7', '120'],
      ['2024-05-01T23:00:00Z', '2024-05-02T00:00:00Z', 'globex', 'us-1,east', '7', '0', '7', '0', '1', '0', '-'],
      ['TOTAL', '7007', '75', '707', '12', '72', '8', '-'],
    ]);

    const csv = await runUsageCli(['usage', '--data-dir', dataDir, ...RANGE, '--group', 'total', '--format', 'csv', '--tenant', 'acme']);
    expect(csv.stdout.split('\r\n')).toEqual([
      'from,to,tenant,cluster,accepted_samples,rejected_samples,accepted_series,rejected_series,requests,rejected_requests,active_series',
      '2024-05-01T23:00:00.000Z,2024-05-02T00:00:00.000Z,acme,,0,5,0,5,1,1,',
      '2024-05-01T22:00:00.000Z,2024-05-02T01:00:00.000Z,acme,eu-1,7000,70,700,7,70,7,120',
      '',
    ]);
  });

  it('selects only the hours overlapping an RFC 3339 --since/--until range', async () => {
    seedFixed();
    // 22:30 to 23:00: only the 22h hour overlaps (23h starts at --until, which is exclusive).
    const result = await runUsageCli(['usage', '--data-dir', dataDir, '--since', '2024-05-02T00:30:00+02:00', '--until', '2024-05-01T23:00:00Z', '--format', 'json']);
    expect(result.code).toBe(0);
    expect((JSON.parse(result.stdout) as { hour: string; requests: number }[]).map((r) => [r.hour, r.requests])).toEqual([['2024-05-01T22:00:00.000Z', 10]]);
  });

  it('excludes hours that ended before --since 2h (relative to now), and defaults to the last 24h', async () => {
    const currentHour = Math.floor(Date.now() / HOUR) * HOUR;
    seed([
      row({ hourStartMs: currentHour, requests: 1 }),
      row({ hourStartMs: currentHour - HOUR, requests: 2 }),
      row({ hourStartMs: currentHour - 5 * HOUR, requests: 4 }),
      row({ hourStartMs: currentHour - 30 * HOUR, requests: 8 }),
    ]);
    const requestsOf = (r: CliResult): number[] => (JSON.parse(r.stdout) as { requests: number }[]).map((x) => x.requests);

    expect(requestsOf(await runUsageCli(['usage', '--data-dir', dataDir, '--since', '2h', '--format', 'json']))).toEqual([2, 1]);
    expect(requestsOf(await runUsageCli(['usage', '--data-dir', dataDir, '--format', 'json']))).toEqual([4, 2, 1]);
    expect(requestsOf(await runUsageCli(['usage', '--data-dir', dataDir, '--since', '2d', '--until', '3h', '--format', 'json']))).toEqual([8, 4]);
  });

  it.each([
    { format: 'table', stdout: '', stderr: /^No usage recorded for tenant "initech" from \S+Z to \S+Z in .*tributary\.db\.\n$/ },
    { format: 'json', stdout: '[]\n', stderr: /^$/ },
    {
      format: 'csv',
      stdout: 'hour,tenant,cluster,accepted_samples,rejected_samples,accepted_series,rejected_series,requests,rejected_requests,active_series\r\n',
      stderr: /^$/,
    },
  ])('with no rows, format $format prints $stdout', async ({ format, stdout, stderr }) => {
    seedFixed();
    const result = await runUsageCli(['usage', '--data-dir', dataDir, ...RANGE, '--tenant', 'initech', '--format', format]);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(stdout);
    expect(result.stderr).toMatch(stderr);
  });

  it('uses the data_dir of the file given with --config', async () => {
    const configDir = join(dir, 'from-config');
    const config = join(dir, 'tributary.yml');
    writeFileSync(config, `data_dir: ${configDir}\nbackends:\n  - name: central\n    url: http://127.0.0.1:9090/api/v1/write\n`);
    dataDir = configDir;
    seed([row({ requests: 5 })]);
    const result = await runUsageCli(['usage', '--config', config, ...RANGE, '--format', 'json']);
    expect((JSON.parse(result.stdout) as { requests: number }[]).map((r) => r.requests)).toEqual([5]);
  });

  it('says in --help when the server writes usage and where the newest counts are', async () => {
    const result = await runUsageCli(['usage', '--help']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/usage\.flush_interval\s+\(default 10s\)/);
    expect(result.stdout).toContain('GET /admin/v1/usage');
  });

  it.each([
    { name: 'an unknown --format', args: ['--format', 'xml'], stderr: /--format.*'xml' is invalid.*table, json, csv/ },
    { name: 'an unknown --group', args: ['--group', 'week'], stderr: /--group.*'week' is invalid.*hour, day, total/ },
    { name: 'a --since that is neither', args: ['--since', 'yesterday'], stderr: /option --since: "yesterday" is neither a duration .* nor an RFC 3339 timestamp/ },
    { name: 'a --since on a day that does not exist', args: ['--since', '2024-02-30T00:00:00Z'], stderr: /option --since: "2024-02-30T00:00:00Z"/ },
    { name: 'a --since without a time zone', args: ['--since', '2024-05-01T00:00:00'], stderr: /option --since: "2024-05-01T00:00:00"/ },
    { name: 'a bad --until', args: ['--until', '5 minutes'], stderr: /option --until: "5 minutes"/ },
    { name: '--since not before --until', args: ['--since', '1h', '--until', '2h'], stderr: /option --since \(\S+\) must be before --until/ },
    { name: 'an empty --tenant', args: ['--tenant', ' '], stderr: /option --tenant must not be empty/ },
    { name: 'both --config and --data-dir', args: ['--config', 'x.yml'], stderr: /cannot be used with/ },
  ])('exits 2 on a usage error: $name', async ({ args, stderr }) => {
    const result = await runUsageCli(['usage', '--data-dir', dataDir, ...args]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(stderr);
    expect(result.stdout).toBe('');
  });

  it('exits 1 when the state database cannot be opened', async () => {
    const notADir = join(dir, 'file');
    writeFileSync(notADir, 'x');
    const result = await runUsageCli(['usage', '--data-dir', notADir]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/cannot open the state database/);
  });
});
