/**
 * `node dist/scripts/check-native-addons.js`: exercises the native addons (better-sqlite3, re2) the
 * way a running server does, and exits 0 only if the process survives. The Dockerfile runs it after
 * `npm ci`, so that a broken addon fails the image build instead of the running server.
 *
 * Why: better-sqlite3 12 compiled from source against the headers of Node 24.19 or later aborts the
 * whole process when the garbage collector destroys a prepared statement (an assertion in
 * node::RemoveEnvironmentCleanupHook). Its prebuilt binaries, built with older headers, do not.
 * npm falls back to compiling when it cannot download the prebuilt binary (no network, a platform
 * without one), and nothing else would notice: tributary starts, answers its probes, and aborts
 * minutes later. Measured on Node 24.21.0: this check aborts with such a build within 0.2 s and
 * passes with the prebuilt one.
 */
import SqliteDatabase from 'better-sqlite3';
import RE2 from 're2';

const ROUNDS = 50;
const STATEMENTS_PER_ROUND = 5000;

async function main(): Promise<void> {
  const db = new SqliteDatabase(':memory:');
  // Statements dropped at once, destroyed by the collector on its own schedule, between event-loop
  // turns: a forced gc() at one point does not reproduce the abort, ordinary allocation does.
  for (let round = 0; round < ROUNDS; round++) {
    for (let i = 0; i < STATEMENTS_PER_ROUND; i++) db.prepare(`select ${i % 50} as v`).get();
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  db.close();
  if (!new RE2('^tributary_[a-z_]+$').test('tributary_queue_bytes')) throw new Error('re2 does not match as it must');
  console.log(`native addons ok: better-sqlite3 survived ${ROUNDS * STATEMENTS_PER_ROUND} statements collected by the GC, re2 matches (node ${process.version})`);
}

main().catch((err: unknown) => {
  console.error(`native addons check failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
