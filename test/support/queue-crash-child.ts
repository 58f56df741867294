/**
 * Child process for test/integration/queue-crash.test.ts: appends items to a SqliteQueue as fast as
 * it can, 8 concurrent appends at a time, and prints each item's id on stdout only after its
 * `append` resolved (that is what a 2xx promises). The test SIGKILLs it mid-run and checks that
 * every printed id is in the database.
 *
 * Usage: node --import tsx test/support/queue-crash-child.ts <dataDir> <normal|full> <firstId>
 * The payload of item `id` is `PAYLOAD_BYTES` bytes starting with `id` as a 32-bit big-endian
 * integer; its `samples` field is `id` too; it goes to shard `id % SHARDS`.
 */
import { SqliteQueue } from '../../src/queue/sqlite-queue.js';
import { openDatabase } from '../../src/state/db.js';

const CRASH_BACKEND = 'central';
const CRASH_SHARDS = 2;
const PAYLOAD_BYTES = 8192;
const CONCURRENCY = 8;

async function main(): Promise<void> {
  const [dataDir, synchronous, firstIdText] = process.argv.slice(2);
  if (dataDir === undefined || (synchronous !== 'normal' && synchronous !== 'full')) {
    throw new Error('usage: queue-crash-child.ts <dataDir> <normal|full> <firstId>');
  }
  const db = openDatabase(dataDir, { synchronous });
  const queue = new SqliteQueue({ db, backends: [{ name: CRASH_BACKEND, shards: CRASH_SHARDS, maxQueueBytes: 1 << 30 }] });
  let id = Number(firstIdText ?? '1');
  for (;;) {
    const group: Array<Promise<void>> = [];
    for (let i = 0; i < CONCURRENCY; i++, id++) {
      const payload = Buffer.alloc(PAYLOAD_BYTES, id & 0xff);
      payload.writeUInt32BE(id, 0);
      const thisId = id;
      group.push(
        queue
          .append([{ backend: CRASH_BACKEND, shard: id % CRASH_SHARDS, payload, samples: id, histograms: 0, exemplars: 0, metadata: 0, tenant: 't' }])
          .then(() => {
            // A pipe write is synchronous on Linux: once this returns, the parent can read the id.
            process.stdout.write(`${thisId}\n`);
          }),
      );
    }
    await Promise.all(group);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`queue-crash-child: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
