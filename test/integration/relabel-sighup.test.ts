/**
 * Hot reload of relabel rules the way an operator does it: `tributary serve` as its own process,
 * the config file edited, SIGHUP sent. New rules apply; a bad rule is refused with a logged error
 * naming it, and the rules in force stay.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Proc, startProc, waitForHttp } from '../../scripts/lib/procs.js';
import { TRIBUTARY_MAIN, eventually } from '../support/e2e.js';
import { HttpSink } from '../support/forward-helpers.js';
import { freePorts } from '../support/ports.js';
import { TOKEN_A, body, decodeBody, labelsOf, push, series, sha } from '../support/write-env.js';

function config(port: number, sinkUrl: string, dir: string, dropRegex: string, action = 'drop'): string {
  return `server:
  listen_address: 127.0.0.1:${port}
data_dir: ${join(dir, 'data')}
relabel_configs:
  - {source_labels: [__name__], regex: "${dropRegex}", action: ${action}}
tokens:
  - {tenant: team-a, clusters: [edge-a], token_sha256: ${sha(TOKEN_A)}}
backends:
  - {name: sink, url: "${sinkUrl}", min_backoff: 10ms, max_backoff: 50ms}
`;
}

describe('SIGHUP reloads relabel rules in a running tributary', () => {
  let dir: string;
  let sink: HttpSink;
  let proc: Proc;
  let url: string;
  let configFile: string;
  let port: number;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tributary-sighup-'));
    sink = await HttpSink.start();
    [port] = (await freePorts(1)) as [number];
    configFile = join(dir, 'tributary.yml');
    writeFileSync(configFile, config(port, sink.url, dir, 'old_.*'));
    proc = startProc('tributary', process.execPath, [TRIBUTARY_MAIN, 'serve', '--config', configFile], join(dir, 'tributary.log'));
    url = `http://127.0.0.1:${port}`;
    await waitForHttp(`${url}/-/ready`, proc);
  });
  afterAll(async () => {
    await proc?.stop();
    await sink?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const names = () => new Set(sink.accepted().flatMap((r) => decodeBody(r.body).timeseries.map((ts) => labelsOf(ts).__name__)));
  const pushPair = async (tag: string) => {
    const t = Date.now();
    const res = await push(url, body([series({ __name__: `old_${tag}`, cluster: 'edge-a' }, [[1, t]]), series({ __name__: `new_${tag}`, cluster: 'edge-a' }, [[1, t]])]));
    expect(res.status).toBe(204);
  };
  const arrived = (name: string) => eventually(`${name} at the sink`, async () => (names().has(name) ? true : undefined), 10_000, 50);

  it('applies new rules on SIGHUP, and refuses a bad rule with a logged error, keeping the rules in force', async () => {
    await pushPair('1');
    await arrived('new_1');
    expect(names().has('old_1')).toBe(false);

    writeFileSync(configFile, config(port, sink.url, dir, 'new_.*'));
    proc.child.kill('SIGHUP');
    await eventually('the reload to be logged', async () => (readFileSync(proc.logFile, 'utf8').includes('config reloaded') ? true : undefined), 10_000, 50);
    await pushPair('2');
    await arrived('old_2');
    expect(names().has('new_2')).toBe(false);

    writeFileSync(configFile, config(port, sink.url, dir, 'old_.*', 'dorp'));
    proc.child.kill('SIGHUP');
    const refusal = await eventually(
      'the refusal to be logged',
      async () => readFileSync(proc.logFile, 'utf8').split('\n').find((line) => line.includes('config reload refused')),
      10_000,
      50,
    );
    expect(refusal).toContain('relabel_configs[0].action: unknown relabel action \\"dorp\\"');
    await pushPair('3');
    await arrived('old_3');
    expect(names().has('new_3')).toBe(false);
    expect(proc.child.exitCode).toBeNull();
  });
});
