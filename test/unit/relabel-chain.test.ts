/**
 * The relabel chain (global -> tenant -> backend), its outcomes per backend, the cluster label
 * guard and the bounded cache.
 */
import { describe, expect, it } from 'vitest';
import { type BackendOutcome, RelabelCache, RelabeledLabels, type RelabelStages, type SeriesOutcome, TenantChain } from '../../src/relabel/chain.js';
import { parseRelabelRule, type RelabelRule } from '../../src/relabel/rules.js';

function rules(...raw: unknown[]): RelabelRule[] {
  return raw.map((r) => {
    const parsed = parseRelabelRule(r);
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.problems));
    return parsed.rule;
  });
}

function labelsOf(outcome: BackendOutcome | undefined, input: Record<string, string>): Record<string, string> | null {
  if (outcome === 'dropped' || outcome === undefined) return null;
  if (outcome === 'unchanged') return input;
  return Object.fromEntries(outcome.names.map((n, i) => [n.toString(), (outcome.values[i] as Buffer).toString()]));
}

const input = { __name__: 'up', cluster: 'c1', job: 'node' };

const stages: RelabelStages = {
  global: rules({ source_labels: ['job'], target_label: 'stage', replacement: 'global' }),
  tenants: new Map([
    ['team-a', rules({ source_labels: ['stage'], target_label: 'stage', replacement: '${1}+tenant' })],
    ['team-b', rules({ source_labels: ['job'], regex: 'node', action: 'drop' })],
  ]),
  backends: [
    rules({ source_labels: ['stage'], target_label: 'stage', replacement: '${1}+backend' }),
    [],
    rules({ source_labels: ['__name__'], regex: 'up', action: 'drop' }),
  ],
};

describe('TenantChain', () => {
  it('runs global, then tenant, then each backend’s rules on the tenant’s result', () => {
    const outcome = new TenantChain(stages, 'team-a', 3, 'cluster').run(new Map(Object.entries(input)));
    expect(outcome.droppedAt).toBeUndefined();
    expect(labelsOf(outcome.backends[0], input)).toEqual({ ...input, stage: 'global+tenant+backend' });
    expect(labelsOf(outcome.backends[1], input)).toEqual({ ...input, stage: 'global+tenant' });
    expect(outcome.backends[2]).toBe('dropped');
  });

  it('a drop in a shared stage drops the series for every backend', () => {
    const outcome = new TenantChain(stages, 'team-b', 3, 'cluster').run(new Map(Object.entries(input)));
    expect(outcome.droppedAt).toBe('tenant');
    expect(outcome.backends).toEqual([]);
  });

  it('a tenant without rules of its own gets the global rules', () => {
    const outcome = new TenantChain(stages, 'team-z', 3, 'cluster').run(new Map(Object.entries(input)));
    expect(labelsOf(outcome.backends[1], input)).toEqual({ ...input, stage: 'global' });
  });

  it('reports unchanged when the rules had no effect, and is inactive without rules', () => {
    const noop: RelabelStages = { global: rules({ source_labels: ['job'], regex: 'api', action: 'drop' }), tenants: new Map(), backends: [[]] };
    const chain = new TenantChain(noop, 'team-a', 1, 'cluster');
    expect(chain.active).toBe(true);
    expect(chain.run(new Map(Object.entries(input))).backends).toEqual(['unchanged']);
    expect(new TenantChain({ global: [], tenants: new Map(), backends: [[]] }, 'team-a', 1, 'cluster').active).toBe(false);
  });

  it('drops a series whose label set became empty', () => {
    const all: RelabelStages = { global: [], tenants: new Map(), backends: [rules({ action: 'labeldrop', regex: '.*' })] };
    // (A config cannot drop the cluster label; this chain has none to keep.)
    expect(new TenantChain(all, 't', 1, 'cluster').run(new Map([['__name__', 'up'], ['job', 'node']])).backends).toEqual(['dropped']);
  });

  it('undoes a change of the cluster label (target known only at run time) and counts it per stage', () => {
    const sneaky: RelabelStages = {
      global: rules({ source_labels: ['victim'], target_label: '$1', replacement: 'other' }),
      tenants: new Map(),
      backends: [rules({ action: 'labelmap', regex: 'k8s_(.*)', replacement: '$1' })],
    };
    const restored: string[] = [];
    const given = { ...input, victim: 'cluster', k8s_cluster: 'evil' };
    const outcome = new TenantChain(sneaky, 't', 1, 'cluster').run(new Map(Object.entries(given)), {
      rule: () => {},
      clusterRestored: (stage, changedTo) => restored.push(`${stage}:${changedTo}`),
    });
    // Both changes were undone, so the series goes out as it came.
    expect(outcome.backends[0]).toBe('unchanged');
    expect(outcome.clusterRestored).toBe(2);
    expect(restored).toEqual(['global:other', 'backend:evil']);
  });

  it('restores the cluster label before the next rule runs, so no rule sees another cluster', () => {
    const chain: RelabelStages = {
      global: rules(
        { source_labels: ['victim'], target_label: '$1', replacement: 'other' },
        { source_labels: ['cluster'], target_label: 'seen' },
      ),
      tenants: new Map(),
      backends: [[]],
    };
    const outcome = new TenantChain(chain, 't', 1, 'cluster').run(new Map(Object.entries({ ...input, victim: 'cluster' })));
    expect(labelsOf(outcome.backends[0], input)).toEqual({ ...input, victim: 'cluster', seen: 'c1' });
  });

  it('sorts the relabeled labels in byte order, ready to encode', () => {
    const labels = new RelabeledLabels(new Map([['b', '2'], ['__name__', 'x'], ['a', '1'], ['B', '3']]));
    expect(labels.names.map(String)).toEqual(['B', '__name__', 'a', 'b']);
  });
});

describe('RelabelCache', () => {
  const outcome: SeriesOutcome = { droppedAt: undefined, backends: ['unchanged'], clusterRestored: 0 };
  const other: SeriesOutcome = { droppedAt: 'global', backends: [], clusterRestored: 0 };
  const bytes = Buffer.from('xx\u0000label-bytes-of-a-series\u0000yy');
  const [from, to] = [3, bytes.length - 3];

  it('counts hits and misses', () => {
    const cache = new RelabelCache(10);
    expect(cache.get(1, bytes, from, to, 't', 0, '')).toBeUndefined();
    cache.set(1, bytes, from, to, 't', 0, '', outcome);
    expect(cache.get(1, bytes, from, to, 't', 0, '')).toBe(outcome);
    expect([cache.hits, cache.misses]).toEqual([1, 1]);
  });

  it('never answers for another series, tenant or cluster enforcement, even with the same hash', () => {
    const cache = new RelabelCache(10);
    cache.set(7, bytes, from, to, 'team-a', 0, '', outcome);
    const collision = Buffer.from('label-bytes-of-another-one');
    expect(cache.get(7, collision, 0, collision.length, 'team-a', 0, '')).toBeUndefined();
    expect(cache.get(7, bytes, from, to, 'team-b', 0, '')).toBeUndefined();
    expect(cache.get(7, bytes, from, to, 'team-a', 2, 'edge-a')).toBeUndefined();
    // Both live under one hash.
    cache.set(7, collision, 0, collision.length, 'team-a', 0, '', other);
    expect(cache.get(7, collision, 0, collision.length, 'team-a', 0, '')).toBe(other);
    expect(cache.get(7, bytes, from, to, 'team-a', 0, '')).toBe(outcome);
    expect(cache.size).toBe(2);
  });

  it('copies the label bytes (the request buffer is reused)', () => {
    const cache = new RelabelCache(10);
    const scratch = Buffer.from(bytes);
    cache.set(3, scratch, from, to, 't', 0, '', outcome);
    scratch.fill(0);
    expect(cache.get(3, bytes, from, to, 't', 0, '')).toBe(outcome);
  });

  it('stays within its bound, evicting the oldest entry', () => {
    const cache = new RelabelCache(3);
    for (const k of [1, 2, 3, 4]) cache.set(k, bytes, from, to, 't', 0, '', outcome);
    expect(cache.size).toBe(3);
    expect(cache.get(1, bytes, from, to, 't', 0, '')).toBeUndefined();
    expect(cache.get(4, bytes, from, to, 't', 0, '')).toBe(outcome);
  });

  it('keeps nothing with size 0', () => {
    const cache = new RelabelCache(0);
    cache.set(1, bytes, from, to, 't', 0, '', outcome);
    expect(cache.size).toBe(0);
  });
});
