/**
 * `tributary relabel`: the relabel debugger, fed JSON lines on stdin.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerRelabelCommand } from '../../src/cli/relabel.js';
import { TRIBUTARY_MAIN } from '../support/e2e.js';
import { type CliResult, runCli } from '../support/run-cli.js';

const CONFIG = `
relabel_configs:
  - {source_labels: [__name__], regex: "go_.*", action: drop}
  - {source_labels: [instance], regex: "(.*):\\\\d+", target_label: host}
tenants:
  team-a:
    relabel_configs:
      - {source_labels: [job], target_label: job, action: uppercase}
backends:
  - name: central
    url: http://127.0.0.1:9090/api/v1/write
    write_relabel_configs:
      - {action: labeldrop, regex: "instance"}
  - name: archive
    url: http://127.0.0.1:9091/api/v1/write
`;

let dir: string;
let config: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tributary-cli-relabel-'));
  config = join(dir, 'tributary.yml');
  writeFileSync(config, CONFIG);
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

function relabel(args: readonly string[], stdin: string): Promise<CliResult> {
  return runCli((program) => registerRelabelCommand(program, () => Readable.from([stdin])), ['relabel', ...args]);
}

const lines = (text: string) => text.trim().split('\n').map((l) => JSON.parse(l) as unknown);

describe('tributary relabel', () => {
  const input = [
    '{"__name__":"up","job":"node","instance":"10.0.0.1:9100","cluster":"c1"}',
    '{"__name__":"go_goroutines","job":"node"}',
    '',
    '{"__name__":"up","empty":""}',
  ].join('\n');

  it.each<[string, string[], unknown[]]>([
    [
      'global rules only (no tenant; several backends and none chosen)',
      [],
      [{ __name__: 'up', cluster: 'c1', host: '10.0.0.1', instance: '10.0.0.1:9100', job: 'node' }, null, { __name__: 'up' }],
    ],
    [
      'global, tenant and backend rules',
      ['--tenant', 'team-a', '--backend', 'central'],
      [{ __name__: 'up', cluster: 'c1', host: '10.0.0.1', job: 'NODE' }, null, { __name__: 'up' }],
    ],
    [
      'a backend without rules of its own',
      ['--tenant', 'team-a', '--backend', 'archive'],
      [{ __name__: 'up', cluster: 'c1', host: '10.0.0.1', instance: '10.0.0.1:9100', job: 'NODE' }, null, { __name__: 'up' }],
    ],
  ])('%s: one JSON line per input line, null when dropped', async (_name, args, expected) => {
    const res = await relabel(['--config', config, ...args], input);
    expect(res.code).toBe(0);
    expect(lines(res.stdout)).toEqual(expected);
  });

  it('notes on stderr when several backends exist and none was chosen', async () => {
    const res = await relabel(['--config', config], '{"a":"b"}\n');
    expect(res.stderr).toContain('no --backend given');
  });

  it('--explain names each rule that changed something, and what it changed', async () => {
    const res = await relabel(
      ['--config', config, '--tenant', 'team-a', '--backend', 'central', '--explain'],
      '{"__name__":"up","job":"node","instance":"10.0.0.1:9100"}\n{"__name__":"go_gc"}\n',
    );
    expect(res.code).toBe(0);
    expect(lines(res.stdout)).toEqual([
      {
        labels: { __name__: 'up', host: '10.0.0.1', job: 'NODE' },
        steps: [
          { rule: 'relabel_configs[1]', action: 'replace', set: { host: '10.0.0.1' } },
          { rule: 'tenants.team-a.relabel_configs[0]', action: 'uppercase', set: { job: 'NODE' } },
          { rule: 'backends.central.write_relabel_configs[0]', action: 'labeldrop', removed: ['instance'] },
        ],
      },
      { labels: null, steps: [{ rule: 'relabel_configs[0]', action: 'drop', dropped: true }] },
    ]);
  });

  it.each([
    ['not JSON', '{"a":', 'stdin line 1: not JSON'],
    ['not an object', '["a"]', 'stdin line 1: expected a JSON object'],
    ['a non-string value', '{"a":"b"}\n{"a":1}', 'stdin line 2: the value of label "a" is not a string'],
  ])('refuses input that is %s with exit code 2 and the line number', async (_name, stdin, message) => {
    const res = await relabel(['--config', config], stdin);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain(message);
  });

  it('refuses an unknown backend with exit code 2', async () => {
    const res = await relabel(['--config', config, '--backend', 'nope'], '{}');
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('unknown backend "nope"; the config has: central, archive');
  });

  it('exits 2 with the problem when a rule in the config is bad (the real binary)', () => {
    const bad = join(dir, 'bad.yml');
    writeFileSync(bad, CONFIG.replace('action: uppercase', 'action: upcase'));
    const res = spawnSync(process.execPath, [TRIBUTARY_MAIN, 'relabel', '--config', bad], { input: '{"a":"b"}\n', encoding: 'utf8' });
    expect(res.status).toBe(2);
    expect(res.stderr).toContain('tenants.team-a.relabel_configs[0].action: unknown relabel action "upcase"');
    expect(res.stdout).toBe('');
  });

  it('pipes through the real binary', () => {
    const res = spawnSync(process.execPath, [TRIBUTARY_MAIN, 'relabel', '--config', config, '--backend', 'central'], {
      input: '{"__name__":"up","instance":"h:1"}\n',
      encoding: 'utf8',
    });
    expect(res.status).toBe(0);
    expect(JSON.parse(res.stdout)).toEqual({ __name__: 'up', host: 'h' });
  });
});
