/**
 * The bench sink as its own process: `node dist/bench/sink-main.js [--decode-every N] [--port N]`.
 * Prints `{"port": N}` on one stdout line once listening; SIGTERM or SIGINT closes it.
 */
import { parseArgs } from 'node:util';
import { startSink } from './lib/sink.js';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      'decode-every': { type: 'string', default: '10' },
      port: { type: 'string', default: '0' },
    },
  });
  const decodeEvery = Number(values['decode-every']);
  const port = Number(values.port);
  if (!Number.isInteger(decodeEvery) || decodeEvery < 0) throw new Error('--decode-every must be a non-negative integer');
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error('--port must be a port number');
  const sink = await startSink({ decodeEvery, port });
  process.stdout.write(`${JSON.stringify({ port: sink.port, pid: process.pid })}\n`);
  const stop = (): void => {
    void sink.close().then(() => process.exit(0));
    setTimeout(() => process.exit(0), 2000).unref();
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main().catch((err: unknown) => {
  process.stderr.write(`sink: ${(err as Error).message}\n`);
  process.exit(1);
});
