/**
 * What one send to a backend came to, as a value (errors on the forwarding side are outcomes, not
 * exceptions). The rules follow the remote-write spec and what Prometheus does as a sender:
 * 2xx is success; 5xx, 429 and no answer at all are retried (honouring Retry-After); every other
 * status is non-recoverable, so the batch is dropped, counted and logged.
 */

/** Most of a backend's response body kept for logs (Prometheus keeps the same amount). */
export const MAX_MESSAGE_BYTES = 1024;

export type SendOutcome =
  | { kind: 'ok'; status: number }
  /** `code` is the HTTP status as text, or "network" / "timeout" when there was no answer. */
  | { kind: 'retry'; code: string; retryAfterMs: number | undefined; message: string }
  | { kind: 'reject'; status: number; message: string };

/** Response headers as undici (and node:http) give them: lower-case names. */
export type ResponseHeaders = Readonly<Record<string, string | string[] | undefined>>;

/**
 * Classify a backend's answer.
 * @param body the start of the response body (only the first {@link MAX_MESSAGE_BYTES} are kept)
 * @param nowMs the clock used to turn an HTTP-date Retry-After into a delay
 */
export function classifyResponse(status: number, headers: ResponseHeaders, body: string, nowMs: number = Date.now()): SendOutcome {
  if (status >= 200 && status < 300) return { kind: 'ok', status };
  const message = truncateMessage(body);
  if (status >= 500 || status === 429) {
    return { kind: 'retry', code: String(status), retryAfterMs: parseRetryAfterMs(headerValue(headers, 'retry-after'), nowMs), message };
  }
  // 4xx, and the odd 1xx/3xx (undici follows no redirects): the backend will never take this
  // batch as it is, so retrying would only block the shard behind it.
  const location = status >= 300 && status < 400 ? headerValue(headers, 'location') : undefined;
  return { kind: 'reject', status, message: location === undefined ? message : `redirect to ${location}; point the backend url there. ${message}` };
}

/** The outcome of a send that got no HTTP answer: always retried. */
export function classifyNetworkError(err: unknown, timedOut: boolean): SendOutcome {
  const text = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  const cause = err instanceof Error && err.cause instanceof Error ? ` (${err.cause.message})` : '';
  return { kind: 'retry', code: timedOut ? 'timeout' : 'network', retryAfterMs: undefined, message: truncateMessage(text + cause) };
}

/**
 * Parse a Retry-After header: delta-seconds or an HTTP-date (RFC 9110 §10.2.3).
 * @returns the delay in ms (0 for a date in the past), or undefined when absent or unparsable
 */
export function parseRetryAfterMs(value: string | undefined, nowMs: number = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  if (text === '') return undefined;
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  // Only accept something that looks like a date: Date.parse also takes bare numbers like "-1".
  if (!/[a-zA-Z]/.test(text)) return undefined;
  const dateMs = Date.parse(text);
  if (Number.isNaN(dateMs)) return undefined;
  return Math.max(0, dateMs - nowMs);
}

/** Keep at most the first MAX_MESSAGE_BYTES bytes (UTF-8) of a message, trimmed. */
export function truncateMessage(text: string): string {
  const trimmed = text.trim();
  // Fast path: a string of n UTF-16 units is at most 3n UTF-8 bytes.
  if (trimmed.length * 3 <= MAX_MESSAGE_BYTES) return trimmed;
  const bytes = Buffer.from(trimmed, 'utf8');
  if (bytes.length <= MAX_MESSAGE_BYTES) return trimmed;
  // Cutting mid-character leaves a replacement character at the end, which is fine for a log.
  return bytes.subarray(0, MAX_MESSAGE_BYTES).toString('utf8');
}

function headerValue(headers: ResponseHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}
