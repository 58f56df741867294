/** Per-series label limits on the wire bytes: count, name length and value length (bytes). */
import { describe, expect, it } from 'vitest';
import { checkLabelLimits, type LabelLimits } from '../../src/limits/label-limits.js';
import { WireBatch } from '../../src/model/batch.js';
import { decodeWriteRequest } from '../../src/wire/rw1-decode.js';
import { reference } from '../support/reference-codec.js';

function batchOf(labels: Record<string, string>): WireBatch {
  const bytes = Buffer.from(reference.encode({ timeseries: [{ labels: Object.entries(labels).map(([name, value]) => ({ name, value })), samples: [] }], metadata: [] }));
  const batch = new WireBatch();
  decodeWriteRequest(bytes, batch);
  return batch;
}

const off: LabelLimits = { maxLabelNamesPerSeries: 0, maxLabelNameLength: 0, maxLabelValueLength: 0 };

describe('checkLabelLimits', () => {
  it.each<[string, Partial<LabelLimits>, Record<string, string>, string | undefined, string | undefined]>([
    ['no limits', {}, { __name__: 'x'.repeat(5000), a: 'b' }, undefined, undefined],
    ['at the label count', { maxLabelNamesPerSeries: 3 }, { __name__: 'up', a: '1', b: '2' }, undefined, undefined],
    ['over the label count', { maxLabelNamesPerSeries: 2 }, { __name__: 'up', a: '1', b: '2' }, 'max_label_names_per_series', undefined],
    ['__name__ counts for the name length too', { maxLabelNameLength: 4 }, { __name__: 'up', abcd: '1' }, 'label_name_too_long', '__name__'],
    ['a name over it', { maxLabelNameLength: 8 }, { __name__: 'up', abcdefghi: '1' }, 'label_name_too_long', 'abcdefghi'],
    ['at the value length', { maxLabelValueLength: 2 }, { __name__: 'up', a: '12' }, undefined, undefined],
    ['a value over it', { maxLabelValueLength: 2 }, { __name__: 'up', a: '123' }, 'label_value_too_long', 'a'],
    ['a value measured in bytes, not characters', { maxLabelValueLength: 4 }, { __name__: 'up', a: 'ßßß' }, 'label_value_too_long', 'a'],
  ])('%s', (_name, limits, labels, reason, label) => {
    const batch = batchOf(labels);
    const v = checkLabelLimits(batch, 0, { ...off, ...limits });
    expect(v?.reason).toBe(reason);
    if (label !== undefined && v !== undefined) expect(batch.buf.toString('utf8', batch.nameStart[v.label], batch.nameEnd[v.label])).toBe(label);
  });
});
