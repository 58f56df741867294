import { describe, expect, it } from 'vitest';
import { WireBatch } from '../../../src/model/batch.js';
import { AllowedClusters, type ClusterLockPolicy, ClusterVerdict, lockCluster } from '../../../src/policy/cluster-lock.js';
import { LabelCheckResult, LabelShape, checkSeriesLabels, renderSeries } from '../../../src/policy/label-checks.js';
import { decodeWriteRequest } from '../../../src/wire/rw1-decode.js';
import { reference } from '../../support/reference-codec.js';

const CLUSTER = Buffer.from('cluster');

/** Decode one series given as [name, value] pairs in wire order. */
function batchOf(labels: Array<[string, string]>): WireBatch {
  const batch = new WireBatch();
  const raw = reference.encode({ timeseries: [{ labels: labels.map(([name, value]) => ({ name, value })), samples: [{ value: 1, timestamp: 1 }] }] });
  decodeWriteRequest(raw, batch);
  return batch;
}

function check(labels: Array<[string, string]>): LabelCheckResult {
  const out = new LabelCheckResult();
  checkSeriesLabels(batchOf(labels), 0, CLUSTER, out);
  return out;
}

describe('label checks', () => {
  it.each<[string, Array<[string, string]>, string | undefined, LabelShape]>([
    ['a sorted, valid series', [['__name__', 'up'], ['cluster', 'a'], ['job', 'node']], undefined, LabelShape.Clean],
    ['a series with an empty value (left out)', [['__name__', 'up'], ['cluster', 'a'], ['x', '']], undefined, LabelShape.NeedsRewrite],
    ['unsorted labels (sorted on output)', [['job', 'node'], ['__name__', 'up']], undefined, LabelShape.NeedsRewrite],
    ['a name with a dash', [['__name__', 'up'], ['foo-bar', '1']], 'invalid_label_name', LabelShape.Clean],
    ['a name starting with a digit', [['__name__', 'up'], ['1abc', '1']], 'invalid_label_name', LabelShape.Clean],
    ['a UTF-8 name', [['__name__', 'up'], ['café', '1']], 'invalid_label_name', LabelShape.Clean],
    ['an empty name', [['', 'v'], ['__name__', 'up']], 'empty_label_name', LabelShape.Clean],
    ['neighbouring duplicates', [['__name__', 'up'], ['a', '1'], ['a', '2']], 'duplicate_label', LabelShape.Clean],
    ['distant duplicates in unsorted input', [['a', '1'], ['__name__', 'up'], ['a', '2']], 'duplicate_label', LabelShape.Clean],
    ['no __name__', [['cluster', 'a'], ['job', 'x']], 'missing_metric_name', LabelShape.Clean],
    ['no labels at all', [], 'empty_labelset', LabelShape.Clean],
    ['only empty values', [['__name__', ''], ['job', '']], 'empty_labelset', LabelShape.NeedsRewrite],
    ['UTF-8 values (valid)', [['__name__', 'up'], ['city', 'Zürich ✓']], undefined, LabelShape.Clean],
  ])('%s', (_name, labels, reason, shape) => {
    const out = check(labels);
    expect(out.reason).toBe(reason);
    if (reason === undefined) expect(out.shape).toBe(shape);
  });

  it('finds the cluster label, and treats an empty cluster value as absent', () => {
    expect(check([['__name__', 'up'], ['cluster', 'a']]).clusterLabel).toBe(1);
    expect(check([['__name__', 'up'], ['cluster', '']]).clusterLabel).toBe(-1);
    expect(check([['__name__', 'up']]).clusterLabel).toBe(-1);
  });

  it('renders a series for messages, cut at 200 characters', () => {
    const batch = batchOf([['__name__', 'up'], ['job', 'a"b']]);
    expect(renderSeries(batch, 0)).toBe('{__name__="up", job="a\\"b"}');
    const long = batchOf([['__name__', 'x'.repeat(500)]]);
    expect(renderSeries(long, 0)).toHaveLength(200);
    expect(renderSeries(long, 0).endsWith('...')).toBe(true);
  });
});

describe('cluster lock', () => {
  const table: Array<[string, string | undefined, string[], ClusterLockPolicy, ClusterVerdict, number]> = [
    ['its own cluster passes', 'a', ['a'], { missing: 'inject', mismatch: 'reject' }, ClusterVerdict.Pass, 0],
    ['any allowed cluster of several passes', 'b', ['a', 'b'], { missing: 'inject', mismatch: 'reject' }, ClusterVerdict.Pass, 1],
    ['no cluster, one allowed, inject', undefined, ['a'], { missing: 'inject', mismatch: 'reject' }, ClusterVerdict.Inject, 0],
    ['no cluster, one allowed, require', undefined, ['a'], { missing: 'require', mismatch: 'reject' }, ClusterVerdict.RejectMissing, -1],
    ['no cluster, several allowed, inject impossible', undefined, ['a', 'b'], { missing: 'inject', mismatch: 'reject' }, ClusterVerdict.RejectMissing, -1],
    ['another cluster, reject', 'x', ['a'], { missing: 'inject', mismatch: 'reject' }, ClusterVerdict.RejectMismatch, -1],
    ['another cluster, override', 'x', ['a'], { missing: 'inject', mismatch: 'override' }, ClusterVerdict.Override, 0],
    ['another cluster, override with several allowed is refused', 'x', ['a', 'b'], { missing: 'inject', mismatch: 'override' }, ClusterVerdict.RejectMismatch, -1],
    ['a prefix of an allowed cluster is another cluster', 'prod', ['prod-eu'], { missing: 'inject', mismatch: 'reject' }, ClusterVerdict.RejectMismatch, -1],
  ];
  it.each(table)('%s', (_name, cluster, allowed, policy, verdict, index) => {
    const labels: Array<[string, string]> = [['__name__', 'up']];
    if (cluster !== undefined) labels.push(['cluster', cluster]);
    const batch = batchOf(labels);
    const checked = new LabelCheckResult();
    checkSeriesLabels(batch, 0, CLUSTER, checked);
    const at = { value: -1 };
    expect(lockCluster(batch, checked.clusterLabel, new AllowedClusters(allowed), policy, at)).toBe(verdict);
    if (index >= 0) expect(at.value).toBe(index);
  });
});

describe('label checks on hand-built wire layouts', () => {
  /** A Label message with its fields in the given order. */
  function label(fields: Array<[1 | 2, Buffer]>): Buffer {
    const body = Buffer.concat(fields.map(([n, v]) => Buffer.concat([Buffer.from([(n << 3) | 2, v.length]), v])));
    return Buffer.concat([Buffer.from([0x0a, body.length]), body]);
  }

  it.each([
    ['the first label puts its invalid value before its name', [label([[2, Buffer.from([0xc3, 0x28])], [1, Buffer.from('a')]]), label([[1, Buffer.from('__name__')], [2, Buffer.from('up')]])]],
    ['the last label puts its name after its invalid value', [label([[1, Buffer.from('__name__')], [2, Buffer.from('up')]]), label([[2, Buffer.from([0xff])], [1, Buffer.from('z')]])]],
  ])('finds invalid UTF-8 when %s', (_name, labels) => {
    const ts = Buffer.concat(labels);
    const raw = Buffer.concat([Buffer.from([0x0a, ts.length]), ts]);
    const batch = new WireBatch();
    decodeWriteRequest(raw, batch);
    const out = new LabelCheckResult();
    checkSeriesLabels(batch, 0, CLUSTER, out);
    expect(out.reason).toBe('invalid_utf8');
  });
});
