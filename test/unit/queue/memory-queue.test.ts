/**
 * MemoryQueue-specific behaviour. The WriteQueue contract itself (order, caps, peek limits, waits,
 * close) is tested for both implementations in write-queue-contract.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { MemoryQueue } from '../../../src/queue/memory-queue.js';

describe('MemoryQueue', () => {
  it('lists its backends in configuration order', () => {
    const queue = new MemoryQueue({
      backends: [
        { name: 'a', shards: 2, maxQueueBytes: 100 },
        { name: 'b', shards: 1, maxQueueBytes: 50 },
      ],
    });
    expect(queue.backends()).toEqual(['a', 'b']);
  });
});
