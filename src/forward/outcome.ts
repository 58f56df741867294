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

/**
 * Refusals that say the backend is set up wrong for tributary (credentials, URL, method, content
 * type; redirects too), not that something in the batch is bad. Every part of a split batch would
 * get the same answer, so splitting would only multiply requests: the batch is dropped, counted
 * and logged at error, as Prometheus does with any 4xx, and the fix is in the configuration.
 */
const SETUP_REJECTIONS = new Set([401, 403, 404, 405, 407, 415]);

/** A non-retryable answer about the backend's setup rather than the batch's content (see SETUP_REJECTIONS). */
export function isSetupRejection(status: number): boolean {
  return status < 400 || status >= 500 || SETUP_REJECTIONS.has(status);
}

/**
 * 5xx answers that say the backend (or a proxy in front of it) is unavailable or overloaded: an
 * outage by definition, whatever the batch holds. They are never taken for a poison batch.
 */
const OUTAGE_STATUSES = new Set(['502', '503', '504']);

/**
 * Whether a retryable outcome may come from the batch's content rather than from an outage: a 5xx
 * other than 502/503/504 (Prometheus 2.42 answers 500 for some permanent faults). 429, timeouts and
 * network errors never are.
 */
export function isPoisonCandidate(code: string): boolean {
  return /^5\d\d$/.test(code) && !OUTAGE_STATUSES.has(code);
}

/**
 * 500 bodies of Prometheus 2.42 for faults of the data itself, which it will never accept however
 * often it is sent (reference: remote-write-and-relabel-facts.md §4): duplicate label names and
 * empty label sets (`...: invalid sample`), native histograms without the feature flag, and samples
 * older than the out-of-order window.
 */
const PERMANENT_500_MESSAGES = /: invalid sample\b|native histograms are disabled|\btoo old sample\b/;

/** A 500 whose message names a fault of the data (see PERMANENT_500_MESSAGES): handled like a 400, not retried. */
export function isPermanentServerError(code: string, message: string): boolean {
  return code === '500' && PERMANENT_500_MESSAGES.test(message);
}
