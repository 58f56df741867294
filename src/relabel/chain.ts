/**
 * The relabel chain a series goes through, and its per-series cache.
 *
 * For each backend: the global `relabel_configs`, then the tenant's, then the backend's
 * `write_relabel_configs`. The chain runs after the cluster lock, on the series' labels as enforced
 * (cluster label injected or overridden), and before the tenant label is added, so rules can
 * neither move a series to another cluster nor change its tenant: a change to the cluster label
 * that the config could not rule out at load (a templated target, labelmap) is undone right after
 * the rule that made it, and counted.
 */
import type { Config } from '../config/schema.js';
import { encodeLabelFields } from '../wire/rw1-encode.js';
import { applyRules, compareNames, type LabelSet, type RuleObserver, sameLabels } from './engine.js';
import type { RelabelRule } from './rules.js';

export type RelabelStage = 'global' | 'tenant' | 'backend';

/** The rules of a config, by stage. */
export interface RelabelStages {
  readonly global: readonly RelabelRule[];
  readonly tenants: ReadonlyMap<string, readonly RelabelRule[]>;
  /** By backend index (the order of `backends` in the config). */
  readonly backends: readonly (readonly RelabelRule[])[];
}

export const NO_RELABELING: RelabelStages = { global: [], tenants: new Map(), backends: [] };

/** The rules of a loaded config, by stage. */
export function relabelStages(config: Config): RelabelStages {
  return {
    global: config.relabel_configs,
    tenants: new Map(Object.entries(config.tenants).map(([name, t]) => [name, t.relabel_configs])),
    backends: config.backends.map((b) => b.write_relabel_configs),
  };
}

/** A label set that relabeling changed: sorted as Prometheus sorts, and encoded once. */
export class RelabeledLabels {
  readonly names: readonly Buffer[];
  readonly values: readonly Buffer[];
  /** The TimeSeries `labels` fields; label i's field starts at starts[i] (starts[n]: the end). */
  readonly encoded: Buffer;
  readonly starts: Uint32Array;

  constructor(labels: ReadonlyMap<string, string>) {
    const names = [...labels.keys()].sort(compareNames);
    this.names = names.map((n) => Buffer.from(n, 'utf8'));
    this.values = names.map((n) => Buffer.from(labels.get(n) as string, 'utf8'));
    const { bytes, starts } = encodeLabelFields(this.names, this.values);
    this.encoded = bytes;
    this.starts = starts;
  }
}

/** What the chain did to a series for one backend. */
export type BackendOutcome = 'unchanged' | 'dropped' | RelabeledLabels;

export interface SeriesOutcome {
  /** The shared stage (global or tenant) that dropped the series for every backend. */
  readonly droppedAt: 'global' | 'tenant' | undefined;
  /** By backend index; empty when droppedAt is set. */
  readonly backends: readonly BackendOutcome[];
  /** Times a rule changed the cluster label and had that undone. */
  readonly clusterRestored: number;
}

/** Observes the chain step by step (for `tributary relabel --explain`). */
export interface ChainObserver {
  rule(stage: RelabelStage, ruleIndex: number, before: ReadonlyMap<string, string>, after: LabelSet | null): void;
  clusterRestored(stage: RelabelStage, changedTo: string | undefined): void;
}

/** The rules for one tenant, ready to run. */
export class TenantChain {
  readonly shared: readonly { stage: 'global' | 'tenant'; rules: readonly RelabelRule[] }[];
  readonly backends: readonly (readonly RelabelRule[])[];
  readonly clusterLabel: string;
  /** False when no stage has a rule for this tenant: nothing to run, nothing to cache. */
  readonly active: boolean;

  constructor(stages: RelabelStages, tenant: string, backendCount: number, clusterLabel: string) {
    this.shared = [
      { stage: 'global', rules: stages.global },
      { stage: 'tenant', rules: stages.tenants.get(tenant) ?? [] },
    ];
    this.backends = Array.from({ length: backendCount }, (_, b) => stages.backends[b] ?? []);
    this.clusterLabel = clusterLabel;
    this.active = this.shared.some((s) => s.rules.length > 0) || this.backends.some((r) => r.length > 0);
  }

  /** Run the whole chain on `input` (not modified). */
  run(input: ReadonlyMap<string, string>, observer?: ChainObserver): SeriesOutcome {
    const labels: LabelSet = new Map(input);
    const guard = new ClusterGuard(this.clusterLabel, input.get(this.clusterLabel), observer);
    for (const { stage, rules } of this.shared) {
      if (!runStage(stage, rules, labels, guard, observer)) return { droppedAt: stage, backends: [], clusterRestored: guard.restored };
    }
    const sharedUnchanged = sameLabels(labels, input);
    const backends = this.backends.map((rules): BackendOutcome => {
      if (rules.length === 0) return sharedUnchanged ? 'unchanged' : finish(labels);
      const own: LabelSet = new Map(labels);
      if (!runStage('backend', rules, own, guard, observer)) return 'dropped';
      return sameLabels(own, input) ? 'unchanged' : finish(own);
    });
    return { droppedAt: undefined, backends, clusterRestored: guard.restored };
  }
}

/**
 * Puts the enforced cluster label back after any rule that changed it, so the next rule already
 * sees the right value: a rule can never make a series another cluster's, not even for a moment.
 */
class ClusterGuard {
  restored = 0;
  stage: RelabelStage = 'global';
  readonly #label: string;
  readonly #value: string | undefined;
  readonly #observer: ChainObserver | undefined;

  constructor(label: string, value: string | undefined, observer: ChainObserver | undefined) {
    this.#label = label;
    this.#value = value;
    this.#observer = observer;
  }

  check(labels: LabelSet): void {
    const now = labels.get(this.#label);
    if (now === this.#value) return;
    if (this.#value === undefined) labels.delete(this.#label);
    else labels.set(this.#label, this.#value);
    this.restored++;
    this.#observer?.clusterRestored(this.stage, now);
  }
}

function runStage(stage: RelabelStage, rules: readonly RelabelRule[], labels: LabelSet, guard: ClusterGuard, observer: ChainObserver | undefined): boolean {
  if (rules.length === 0) return true;
  guard.stage = stage;
  const observe: RuleObserver | undefined = observer === undefined ? undefined : (i, before, after) => observer.rule(stage, i, before, after);
  // In remote write a series left without labels is not sent.
  return applyRules(rules, labels, observe, () => guard.check(labels)) && labels.size > 0;
}

function finish(labels: LabelSet): BackendOutcome {
  return labels.size === 0 ? 'dropped' : new RelabeledLabels(labels);
}

/** One cached outcome, with everything that decided the chain's input, to rule out hash collisions. */
class CacheEntry {
  constructor(
    readonly labelBytes: Buffer,
    readonly tenant: string,
    readonly enforcement: number,
    readonly cluster: string,
    readonly outcome: SeriesOutcome,
    public next: CacheEntry | undefined,
  ) {}
}

/**
 * Relabel outcomes by series, bounded. A series is looked up by a 53-bit hash of its label bytes as
 * they arrived (the one the high-water mark uses), then confirmed by comparing the bytes themselves,
 * the tenant and the cluster enforcement (injected or overridden cluster): a hash collision costs a
 * miss, never a wrong outcome. Numeric keys keep lookups cheap (no key string to build and hash per
 * series). When full, the oldest hash goes first (insertion order). One cache per pipeline, so a
 * config reload starts with an empty one.
 */
export class RelabelCache {
  readonly #entries = new Map<number, CacheEntry>();
  #size = 0;
  readonly maxEntries: number;
  hits = 0;
  misses = 0;

  constructor(maxEntries: number) {
    this.maxEntries = maxEntries;
  }

  get size(): number {
    return this.#size;
  }

  /** The outcome for the series whose label bytes are buf[from, to), or undefined. */
  get(hash: number, buf: Buffer, from: number, to: number, tenant: string, enforcement: number, cluster: string): SeriesOutcome | undefined {
    for (let e = this.#entries.get(hash); e !== undefined; e = e.next) {
      if (
        e.tenant === tenant &&
        e.enforcement === enforcement &&
        e.cluster === cluster &&
        e.labelBytes.length === to - from &&
        buf.compare(e.labelBytes, 0, e.labelBytes.length, from, to) === 0
      ) {
        this.hits++;
        return e.outcome;
      }
    }
    this.misses++;
    return undefined;
  }

  set(hash: number, buf: Buffer, from: number, to: number, tenant: string, enforcement: number, cluster: string, outcome: SeriesOutcome): void {
    if (this.maxEntries === 0) return;
    while (this.#size >= this.maxEntries) {
      const oldest = this.#entries.entries().next();
      if (oldest.done === true) break;
      this.#entries.delete(oldest.value[0]);
      for (let e: CacheEntry | undefined = oldest.value[1]; e !== undefined; e = e.next) this.#size--;
    }
    const labelBytes = Buffer.from(buf.subarray(from, to));
    this.#entries.set(hash, new CacheEntry(labelBytes, tenant, enforcement, cluster, outcome, this.#entries.get(hash)));
    this.#size++;
  }
}
