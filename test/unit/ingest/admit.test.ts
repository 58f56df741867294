import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { PayloadTooLargeError, UnsupportedMediaTypeError } from '../../../src/errors.js';
import { checkDeclaredLength, checkMediaType } from '../../../src/ingest/admit.js';
import { VERSION } from '../../../src/version.js';

describe('media type negotiation', () => {
  it.each([
    ['Prometheus 2.42 headers', 'application/x-protobuf', 'snappy'],
    ['the explicit RW 1.0 proto parameter', 'application/x-protobuf;proto=prometheus.WriteRequest', 'snappy'],
    ['spaces and case', 'Application/X-Protobuf; proto=prometheus.WriteRequest', 'Snappy'],
    ['no headers at all (as Prometheus receives them)', undefined, undefined],
  ])('accepts %s', (_name, type, encoding) => {
    expect(() => checkMediaType(type, encoding)).not.toThrow();
  });

  it.each([
    ['gzip encoding', 'application/x-protobuf', 'gzip', 'unsupported_encoding', /Content-Encoding "gzip" is not supported.*snappy/],
    ['JSON', 'application/json', 'snappy', 'unsupported_content_type', /expected application\/x-protobuf/],
    ['remote write 2.0', 'application/x-protobuf;proto=io.prometheus.write.v2.Request', 'snappy', 'unsupported_content_type', /remote write 2.0.*not supported yet/],
  ])('answers 415 to %s, naming what it expects', (_name, type, encoding, reason, message) => {
    try {
      checkMediaType(type, encoding);
      throw new Error('accepted');
    } catch (err) {
      expect(err).toBeInstanceOf(UnsupportedMediaTypeError);
      const e = err as UnsupportedMediaTypeError;
      expect(e.status).toBe(415);
      expect(e.reason).toBe(reason);
      expect(e.message).toMatch(message);
    }
  });
});

describe('declared length', () => {
  it('refuses a Content-Length over the cap with 413 naming the limit and the config key', () => {
    expect(() => checkDeclaredLength('2000', 1000)).toThrow(PayloadTooLargeError);
    try {
      checkDeclaredLength('2000', 1000);
    } catch (err) {
      expect((err as PayloadTooLargeError).status).toBe(413);
      expect((err as Error).message).toContain('2000 bytes is over the limit of 1000 bytes (server.max_body_bytes)');
    }
  });

  it('lets a body at the cap or without Content-Length through', () => {
    expect(() => checkDeclaredLength('1000', 1000)).not.toThrow();
    expect(() => checkDeclaredLength(undefined, 1000)).not.toThrow();
  });
});

describe('version', () => {
  it('matches package.json', () => {
    const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
    expect(VERSION).toBe(pkg.version);
  });
});
