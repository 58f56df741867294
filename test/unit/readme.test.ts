/** The README is part of the contract: its config example loads, and its status table lists every reason. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseConfigText } from '../../src/config/load.js';
import { REASONS } from '../../src/errors.js';

const README = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

function sectionAfter(marker: string): string {
  const at = README.indexOf(`<!-- ${marker} -->`);
  expect(at, `README marker ${marker}`).toBeGreaterThan(0);
  return README.slice(at);
}

describe('README', () => {
  it('has a config example that loads, with every top-level key', () => {
    const block = /```yaml\n([\s\S]*?)```/.exec(sectionAfter('config-example'))?.[1];
    expect(block).toBeDefined();
    const config = parseConfigText(block as string, 'README example');
    expect(Object.keys(config).sort()).toEqual(
      ['admin', 'backends', 'cluster_label', 'cluster_lock', 'data_dir', 'limits', 'queue', 'relabel_cache_size', 'relabel_configs', 'replicas', 'server', 'tenants', 'tokens', 'usage', 'validation'].sort(),
    );
    expect(config.tenants['team-b']?.cluster_lock.mismatch).toBe('override');
  });

  it('lists every reason in the status table, and no other', () => {
    // The table runs from the marker to the first blank line after it.
    const table = sectionAfter('reasons').split('\n\n')[0] ?? '';
    const documented = [...table.matchAll(/^\| \d{3}(?: or \d{3})? \| `([a-z0-9_]+)` \|/gm)].map((m) => m[1]);
    expect(documented.sort()).toEqual([...REASONS].sort());
  });

  it('gives the deploy config that npm start uses, and it loads', () => {
    const text = readFileSync(new URL('../../deploy/tributary.yml', import.meta.url), 'utf8');
    expect(parseConfigText(text).backends[0]?.name).toBe('central');
  });
});
