import { describe, expect, it } from 'vitest';
import { parseConfigText } from '../../../src/config/load.js';
import { parseBytes, parseDurationMs } from '../../../src/config/units.js';
import { ConfigError } from '../../../src/errors.js';

const MINIMAL = 'backends: [{name: central, url: "http://127.0.0.1:9090/api/v1/write"}]\n';

function problemsOf(text: string): readonly string[] {
  try {
    parseConfigText(text, 'test.yml');
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error('config was accepted');
}

describe('config', () => {
  it('applies the documented defaults to a minimal config', () => {
    const c = parseConfigText(MINIMAL);
    expect(c.server.listen_address).toBe('127.0.0.1:9201');
    expect(c.server.max_body_bytes).toBe(10 * 1024 * 1024);
    expect(c.cluster_label).toBe('cluster');
    expect(c.cluster_lock).toEqual({ missing: 'inject', mismatch: 'reject' });
    expect(c.limits.future_grace).toBe(600_000);
    const b = c.backends[0];
    expect(b?.shards).toBe(4);
    expect(b?.accepts_native_histograms).toBe(false);
    expect(b?.min_backoff).toBe(50);
    expect(b?.max_backoff).toBe(1000);
  });

  it.each([
    ['an unknown top-level key', `${MINIMAL}colour: blue\n`, '(top level): unknown key(s) "colour"'],
    ['an unknown key in a backend', 'backends: [{name: c, url: "http://x:1/w", shard: 3}]', 'backends[0]: unknown key(s) "shard"'],
    ['no backends', 'backends: []', 'backends: must list at least one backend'],
    ['a bad URL', 'backends: [{name: c, url: "ftp://x/w"}]', 'backends[0].url: must be an http(s) URL'],
    ['a bad duration', 'backends: [{name: c, url: "http://x:1/w", min_backoff: 5 seconds}]', 'backends[0].min_backoff: must be a duration'],
    ['min_backoff above max_backoff', 'backends: [{name: c, url: "http://x:1/w", min_backoff: 10s, max_backoff: 1s}]', 'backends[0].min_backoff: must not be larger than max_backoff'],
    ['a reserved header', 'backends: [{name: c, url: "http://x:1/w", headers: {Content-Type: x}}]', 'backends[0].headers.Content-Type: is set by tributary itself'],
    ['duplicate backend names', 'backends: [{name: c, url: "http://x:1/w"}, {name: c, url: "http://y:1/w"}]', 'backends[1].name: duplicate backend name "c"'],
    ['a bad cluster label name', `${MINIMAL}cluster_label: "my-cluster"\n`, 'cluster_label: must be a label name'],
    ['an unknown cluster policy', `${MINIMAL}cluster_lock: {mismatch: ignore}\n`, 'cluster_lock.mismatch:'],
    ['a token with neither file nor hash', `${MINIMAL}tokens: [{tenant: a, clusters: [x]}]\n`, 'tokens[0]: set exactly one of token_file or token_sha256'],
    ['a token hash that is not sha256', `${MINIMAL}tokens: [{tenant: a, clusters: [x], token_sha256: abc}]\n`, 'tokens[0].token_sha256: must be 64 hex digits'],
    ['a token without clusters', `${MINIMAL}tokens: [{tenant: a, clusters: [], token_file: /x}]\n`, 'tokens[0].clusters: must list at least one cluster'],
    ['a bad byte size', `${MINIMAL}server: {max_body_bytes: lots}\n`, 'server.max_body_bytes: must be a byte size'],
    ['a bad listen address', `${MINIMAL}server: {listen_address: "9201"}\n`, 'server.listen_address: must be host:port'],
  ])('refuses %s and names the field', (_name, text, expected) => {
    const problems = problemsOf(text);
    expect(problems.some((p) => p.startsWith(expected)), problems.join('\n')).toBe(true);
  });

  it('reports every problem of a file at once', () => {
    const problems = problemsOf('backends: [{name: "a b", url: "nope"}]\nfoo: 1\n');
    expect(problems.length).toBeGreaterThanOrEqual(3);
  });

  it('names line and column of a YAML syntax error', () => {
    const problems = problemsOf('backends: [\n  {name: x\n');
    expect(problems[0]).toMatch(/^YAML line \d+ column \d+/);
  });

  it('refuses duplicate keys', () => {
    expect(problemsOf(`${MINIMAL}cluster_label: a\ncluster_label: b\n`)[0]).toMatch(/YAML/);
  });
});

describe('units', () => {
  it.each([
    ['0', 0],
    ['250ms', 250],
    ['30s', 30_000],
    ['5m', 300_000],
    ['1h30m', 5_400_000],
    ['1d', 86_400_000],
    ['5', undefined],
    ['1.5s', undefined],
    ['-1s', undefined],
    ['', undefined],
  ])('parses the duration %j as %j ms', (text, ms) => {
    expect(parseDurationMs(text)).toBe(ms);
  });

  it.each([
    [1048576, 1048576],
    ['1048576', 1048576],
    ['10MiB', 10 * 1024 * 1024],
    ['512KB', 512_000],
    ['1.5GiB', 1.5 * 1024 ** 3],
    ['ten', undefined],
    [-1, undefined],
  ])('parses the byte size %j as %j', (text, bytes) => {
    expect(parseBytes(text)).toBe(bytes);
  });
});
