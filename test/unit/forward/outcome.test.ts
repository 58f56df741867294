import { describe, expect, it } from 'vitest';
import {
  MAX_MESSAGE_BYTES,
  type SendOutcome,
  classifyNetworkError,
  classifyResponse,
  isPermanentServerError,
  isPoisonCandidate,
  isSetupRejection,
  parseRetryAfterMs,
  truncateMessage,
} from '../../../src/forward/outcome.js';

const NOW_MS = Date.parse('2024-05-01T12:00:00Z');

describe('classifyResponse', () => {
  const cases: Array<{ status: number; headers?: Record<string, string | string[]>; expected: SendOutcome }> = [
    { status: 200, expected: { kind: 'ok', status: 200 } },
    { status: 204, expected: { kind: 'ok', status: 204 } },
    { status: 500, expected: { kind: 'retry', code: '500', retryAfterMs: undefined, message: 'boom' } },
    { status: 502, expected: { kind: 'retry', code: '502', retryAfterMs: undefined, message: 'boom' } },
    { status: 503, headers: { 'retry-after': '7' }, expected: { kind: 'retry', code: '503', retryAfterMs: 7000, message: 'boom' } },
    { status: 429, expected: { kind: 'retry', code: '429', retryAfterMs: undefined, message: 'boom' } },
    {
      status: 429,
      headers: { 'retry-after': 'Wed, 01 May 2024 12:00:30 GMT' },
      expected: { kind: 'retry', code: '429', retryAfterMs: 30_000, message: 'boom' },
    },
    { status: 529, headers: { 'retry-after': ['2', '9'] }, expected: { kind: 'retry', code: '529', retryAfterMs: 2000, message: 'boom' } },
    { status: 400, expected: { kind: 'reject', status: 400, message: 'boom' } },
    { status: 401, expected: { kind: 'reject', status: 401, message: 'boom' } },
    { status: 403, expected: { kind: 'reject', status: 403, message: 'boom' } },
    { status: 404, expected: { kind: 'reject', status: 404, message: 'boom' } },
    { status: 409, expected: { kind: 'reject', status: 409, message: 'boom' } },
    { status: 413, expected: { kind: 'reject', status: 413, message: 'boom' } },
    { status: 415, headers: { 'retry-after': '5' }, expected: { kind: 'reject', status: 415, message: 'boom' } },
  ];

  it.each(cases)('$status $headers', ({ status, headers, expected }) => {
    expect(classifyResponse(status, headers ?? {}, ' boom\n', NOW_MS)).toEqual(expected);
  });

  it('rejects a redirect and says where it points', () => {
    const outcome = classifyResponse(301, { location: 'https://central/api/v1/write' }, '', NOW_MS);
    expect(outcome).toMatchObject({ kind: 'reject', status: 301 });
    expect(outcome.kind === 'reject' && outcome.message).toContain('https://central/api/v1/write');
  });

  it('keeps at most the first 1 KiB of the body', () => {
    const outcome = classifyResponse(400, {}, 'x'.repeat(5000), NOW_MS);
    expect(outcome.kind === 'reject' && Buffer.byteLength(outcome.message)).toBe(MAX_MESSAGE_BYTES);
  });
});

describe('parseRetryAfterMs', () => {
  it.each([
    [undefined, undefined],
    ['', undefined],
    ['0', 0],
    ['1', 1000],
    [' 120 ', 120_000],
    ['-1', undefined],
    ['1.5', undefined],
    ['soon', undefined],
    ['Wed, 01 May 2024 12:01:00 GMT', 60_000],
    // A date in the past means "now".
    ['Wed, 01 May 2024 11:00:00 GMT', 0],
  ])('%j -> %j', (value, expected) => {
    expect(parseRetryAfterMs(value, NOW_MS)).toBe(expected);
  });
});

describe('classifyNetworkError', () => {
  it('retries with code network or timeout and keeps the cause', () => {
    const err = new Error('connect failed', { cause: new Error('ECONNREFUSED 127.0.0.1:1') });
    expect(classifyNetworkError(err, false)).toEqual({
      kind: 'retry',
      code: 'network',
      retryAfterMs: undefined,
      message: 'Error: connect failed (ECONNREFUSED 127.0.0.1:1)',
    });
    expect(classifyNetworkError('weird', true)).toMatchObject({ kind: 'retry', code: 'timeout', message: 'weird' });
  });
});

describe('truncateMessage', () => {
  it('cuts by UTF-8 bytes, not characters', () => {
    const text = 'é'.repeat(1000); // 2000 bytes
    expect(Buffer.byteLength(truncateMessage(text))).toBeLessThanOrEqual(MAX_MESSAGE_BYTES + 2);
    expect(truncateMessage(text).startsWith('éé')).toBe(true);
  });
});

describe('what a refusal or a failure says about the batch', () => {
  it('setup refusals (not split, dropped): 401, 403, 404, 405, 407, 415 and redirects', () => {
    for (const status of [301, 308, 401, 403, 404, 405, 407, 415]) expect(isSetupRejection(status), String(status)).toBe(true);
    for (const status of [400, 409, 413, 422]) expect(isSetupRejection(status), String(status)).toBe(false);
  });

  it('poison candidates: 5xx but 502/503/504; never 429, network or timeout', () => {
    for (const code of ['500', '501', '507', '599']) expect(isPoisonCandidate(code), code).toBe(true);
    for (const code of ['502', '503', '504', '429', 'network', 'timeout', '400', '5000']) expect(isPoisonCandidate(code), code).toBe(false);
  });

  it("recognises Prometheus 2.42's 500 bodies for faults of the data", () => {
    for (const message of [
      'label name "a" is not unique: invalid sample',
      'empty labelset: invalid sample',
      'native histograms are disabled',
      'too old sample',
    ]) {
      expect(isPermanentServerError('500', message), message).toBe(true);
      expect(isPermanentServerError('503', message), message).toBe(false);
    }
    expect(isPermanentServerError('500', 'context deadline exceeded')).toBe(false);
    expect(isPermanentServerError('500', 'internal error')).toBe(false);
  });
});
