/**
 * Starting the processes a bench run needs: the sink, and the target under test (tributary or
 * vmagent), all on 127.0.0.1, with logs in the working directory. Every start returns a Proc from
 * scripts/lib/procs so the caller stops exactly what was started, by PID.
 */
import { accessSync, constants, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { type Proc, startProc, waitForHttp } from '../../scripts/lib/procs.js';

export type TargetKind = 'tributary' | 'vmagent';

export interface Target {
  readonly kind: TargetKind;
  readonly proc: Proc;
  readonly port: number;
  /** Where to push: path and extra headers (the token). */
  readonly writePath: string;
  readonly authHeaders: Readonly<Record<string, string>>;
  /** A page worth saving at the end (the target's own metrics). */
  readonly metricsPath: string;
}

/** A port that was free a moment ago on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export interface SinkProc {
  readonly proc: Proc;
  readonly port: number;
}

/** Starts bench/sink-main.js and reads the port it prints into its log. */
export async function startSinkProc(sinkMain: string, dir: string, decodeEvery: number): Promise<SinkProc> {
  const logFile = join(dir, 'sink.log');
  const proc = startProc('sink', process.execPath, [sinkMain, '--decode-every', String(decodeEvery)], logFile);
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (proc.child.exitCode !== null || proc.child.signalCode !== null) break;
    const text = existsSync(logFile) ? readFileSync(logFile, 'utf8') : '';
    for (const line of text.split('\n')) {
      if (!line.startsWith('{')) continue;
      try {
        const parsed = JSON.parse(line) as { port?: unknown };
        if (typeof parsed.port === 'number') {
          await waitForHttp(`http://127.0.0.1:${parsed.port}/-/ready`, proc, 5000);
          return { proc, port: parsed.port };
        }
      } catch {
        // a partial line; try again
      }
    }
    await sleep(50);
  }
  await proc.stop(1000);
  throw new Error(`the sink did not report its port; see ${logFile}`);
}

export interface TributaryOptions {
  readonly mainJs: string;
  readonly dir: string;
  readonly port: number;
  readonly sinkPort: number;
  readonly cluster: string;
  readonly tenant: string;
  readonly token: string;
  readonly tenantLabel: string | undefined;
  readonly shards: number | undefined;
  readonly maxSamplesPerSend: number | undefined;
  /** queue.synchronous (durability level of the SQLite queue), or tributary's default. */
  readonly synchronous?: 'normal' | 'full' | undefined;
  /** More tenants, each with its token (written to a file beside the bench's) and cluster. */
  readonly moreTokens?: ReadonlyArray<{ readonly tenant: string; readonly cluster: string; readonly token: string }>;
  /** The config's `tenants` (per-tenant limits, for example). */
  readonly tenants?: Record<string, unknown>;
}

/** The tributary config for a bench run (JSON, which is YAML too). */
export function tributaryConfig(o: Omit<TributaryOptions, 'mainJs' | 'token'>, tokenFile: string): Record<string, unknown> {
  const backend: Record<string, unknown> = { name: 'sink', url: `http://127.0.0.1:${o.sinkPort}/api/v1/write` };
  if (o.tenantLabel !== undefined) backend.tenant_label = o.tenantLabel;
  if (o.shards !== undefined) backend.shards = o.shards;
  if (o.maxSamplesPerSend !== undefined) backend.max_samples_per_send = o.maxSamplesPerSend;
  return {
    server: { listen_address: `127.0.0.1:${o.port}` },
    data_dir: join(o.dir, 'data'),
    ...(o.synchronous === undefined ? {} : { queue: { synchronous: o.synchronous } }),
    tokens: [
      { tenant: o.tenant, clusters: [o.cluster], token_file: tokenFile },
      ...(o.moreTokens ?? []).map((t, i) => ({ tenant: t.tenant, clusters: [t.cluster], token_file: `${tokenFile}.${i}` })),
    ],
    ...(o.tenants === undefined ? {} : { tenants: o.tenants }),
    backends: [backend],
  };
}

export async function startTributary(o: TributaryOptions): Promise<Target> {
  if (!existsSync(o.mainJs)) throw new Error(`${o.mainJs} not found: run \`npm run build\` first`);
  const tokenFile = join(o.dir, 'bench.token');
  writeFileSync(tokenFile, `${o.token}\n`, { mode: 0o600 });
  for (const [i, t] of (o.moreTokens ?? []).entries()) writeFileSync(`${tokenFile}.${i}`, `${t.token}\n`, { mode: 0o600 });
  const configFile = join(o.dir, 'tributary.yml');
  writeFileSync(configFile, `${JSON.stringify(tributaryConfig(o, tokenFile), null, 2)}\n`);
  const proc = startProc('tributary', process.execPath, [o.mainJs, 'serve', '--config', configFile], join(o.dir, 'tributary.log'));
  try {
    await waitForHttp(`http://127.0.0.1:${o.port}/-/ready`, proc, 30_000);
  } catch (err) {
    await proc.stop(2000);
    throw err;
  }
  return {
    kind: 'tributary',
    proc,
    port: o.port,
    writePath: '/api/v1/write',
    authHeaders: { authorization: `Bearer ${o.token}` },
    metricsPath: '/metrics',
  };
}

export interface VmagentOptions {
  readonly binary: string;
  readonly dir: string;
  readonly port: number;
  readonly sinkPort: number;
  /** `name=value` added to every series (vmagent's equivalent of tributary's tenant_label). */
  readonly extraLabel: string | undefined;
}

export async function startVmagent(o: VmagentOptions): Promise<Target> {
  try {
    accessSync(o.binary, constants.X_OK);
  } catch {
    throw new Error(`vmagent not found or not executable at ${o.binary} (install it, or pass --vmagent PATH)`);
  }
  const args = [
    `-httpListenAddr=127.0.0.1:${o.port}`,
    `-remoteWrite.url=http://127.0.0.1:${o.sinkPort}/api/v1/write`,
    `-remoteWrite.tmpDataPath=${join(o.dir, 'vmagent-data')}`,
    '-loggerLevel=ERROR',
  ];
  if (o.extraLabel !== undefined) args.push(`-remoteWrite.label=${o.extraLabel}`);
  const proc = startProc('vmagent', o.binary, args, join(o.dir, 'vmagent.log'));
  try {
    await waitForHttp(`http://127.0.0.1:${o.port}/health`, proc, 30_000);
  } catch (err) {
    await proc.stop(2000);
    throw err;
  }
  return { kind: 'vmagent', proc, port: o.port, writePath: '/api/v1/write', authHeaders: {}, metricsPath: '/metrics' };
}
