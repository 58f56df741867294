/**
 * One backend's HTTP side: a keep-alive undici Pool and the fixed request headers (remote-write
 * protocol, User-Agent, extra headers, auth). `send` POSTs one snappy-compressed RW 1.0 body and
 * returns a SendOutcome; it never throws for network trouble and always consumes the response body
 * so the connection goes back to the pool.
 */
import { readFileSync } from 'node:fs';
import { Pool } from 'undici';
import type { BackendConfig } from '../config/schema.js';
import { MAX_MESSAGE_BYTES, type SendOutcome, classifyNetworkError, classifyResponse } from './outcome.js';

/** Response bodies of successful sends are read at most this far; beyond, the connection is dropped. */
const MAX_OK_BODY_BYTES = 64 * 1024;

/** undici error codes that mean "the backend took too long" rather than "could not talk to it". */
const TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);

export interface BackendSenderOptions {
  /** The whole User-Agent value, e.g. `tributary/0.1.0`. */
  readonly userAgent: string;
  /** Reads a secret file; injectable for tests. */
  readonly readSecretFile?: (path: string) => string;
}

/** Sends batches to one backend. Create it once per backend; it owns the connection pool. */
export class BackendSender {
  private readonly pool: Pool;
  private readonly path: string;
  private readonly timeoutMs: number;
  private readonly tenantHeader: string | undefined;
  /** Every header but the tenant one; built once. Holds the secret: never log it. */
  private readonly fixedHeaders: Readonly<Record<string, string>>;

  /** Reads the backend's secret files now, so a missing file fails at startup (or reload), not on the first send. */
  constructor(backend: BackendConfig, options: BackendSenderOptions) {
    const url = new URL(backend.url);
    this.path = `${url.pathname}${url.search}`;
    this.timeoutMs = backend.remote_timeout;
    this.tenantHeader = backend.tenant_header?.toLowerCase();
    this.fixedHeaders = buildFixedHeaders(backend, options.userAgent, options.readSecretFile ?? readSecret);
    this.pool = new Pool(url.origin, {
      // Each shard has at most one send in flight, so one connection per shard is enough.
      connections: backend.shards,
      headersTimeout: backend.remote_timeout,
      bodyTimeout: backend.remote_timeout,
      connect: { timeout: backend.remote_timeout },
    });
  }

  /**
   * POST one compressed WriteRequest.
   * @param tenant sent in the backend's `tenant_header`, when it has one
   * @param signal aborts the send (shutdown); the outcome is then a `network` retry
   */
  async send(body: Buffer, tenant: string | undefined, signal: AbortSignal): Promise<SendOutcome> {
    const headers =
      this.tenantHeader !== undefined && tenant !== undefined ? { ...this.fixedHeaders, [this.tenantHeader]: tenant } : this.fixedHeaders;

    // remote_timeout bounds the whole exchange (connect, upload, answer, body), as in Prometheus.
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort(new Error(`no complete answer within remote_timeout (${this.timeoutMs} ms)`));
    }, this.timeoutMs);
    const onAbort = (): void => controller.abort(signal.reason);
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });

    try {
      const response = await this.pool.request({ path: this.path, method: 'POST', headers, body, signal: controller.signal });
      const { statusCode } = response;
      if (statusCode >= 200 && statusCode < 300) {
        await response.body.dump({ limit: MAX_OK_BODY_BYTES });
        return { kind: 'ok', status: statusCode };
      }
      const message = await readPrefix(response.body, MAX_MESSAGE_BYTES);
      return classifyResponse(statusCode, response.headers, message);
    } catch (err) {
      return classifyNetworkError(err, timedOut || isTimeoutError(err));
    } finally {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
    }
  }

  /** Let in-flight sends finish, then close the connections. */
  close(): Promise<void> {
    return this.pool.close();
  }

  /** Abort in-flight sends and close the connections now. */
  destroy(): Promise<void> {
    return this.pool.destroy();
  }
}

function buildFixedHeaders(backend: BackendConfig, userAgent: string, readSecretFile: (path: string) => string): Record<string, string> {
  const headers: Record<string, string> = {};
  // Extra headers first, so the protocol headers below always win (the schema also refuses them).
  for (const [name, value] of Object.entries(backend.headers)) headers[name.toLowerCase()] = value;
  headers['content-encoding'] = 'snappy';
  headers['content-type'] = 'application/x-protobuf';
  headers['x-prometheus-remote-write-version'] = '0.1.0';
  headers['user-agent'] = userAgent;
  if (backend.basic_auth !== undefined) {
    const password = readSecretFile(backend.basic_auth.password_file);
    headers.authorization = `Basic ${Buffer.from(`${backend.basic_auth.username}:${password}`).toString('base64')}`;
  } else if (backend.bearer_token_file !== undefined) {
    headers.authorization = `Bearer ${readSecretFile(backend.bearer_token_file)}`;
  }
  return headers;
}

/** A secret file's content without its trailing newline (files written by `echo` or Kubernetes have one). */
function readSecret(path: string): string {
  return readFileSync(path, 'utf8').replace(/\r?\n$/, '');
}

/**
 * Read a response body to its end, keeping only its first `maxBytes` as text. Reading to the end
 * (rather than destroying the stream) keeps the connection reusable; remote_timeout bounds it.
 */
async function readPrefix(body: AsyncIterable<Buffer>, maxBytes: number): Promise<string> {
  const chunks: Buffer[] = [];
  let kept = 0;
  for await (const chunk of body) {
    if (kept < maxBytes) {
      const part = chunk.subarray(0, maxBytes - kept);
      chunks.push(part);
      kept += part.length;
    }
  }
  return Buffer.concat(chunks).toString('utf8');
}

function isTimeoutError(err: unknown): boolean {
  if (typeof err !== 'object' || err === null || !('code' in err)) return false;
  const code = (err as { code: unknown }).code;
  return typeof code === 'string' && TIMEOUT_CODES.has(code);
}
