/**
 * Admission checks that run before the body is read: content negotiation and declared size.
 * (Reject before doing work: a refused request costs no decompression.)
 */
import { PayloadTooLargeError, UnsupportedMediaTypeError } from '../errors.js';

const RW1_TYPES = new Set(['application/x-protobuf', 'application/x-protobuf;proto=prometheus.writerequest']);
const RW2_TYPE = 'application/x-protobuf;proto=io.prometheus.write.v2.request';

/**
 * Accept remote write 1.0 only. A missing Content-Type or Content-Encoding is taken as RW 1.0 with
 * snappy (as Prometheus' own receiver does); anything else named explicitly must be right.
 */
export function checkMediaType(contentType: string | undefined, contentEncoding: string | undefined): void {
  if (contentEncoding !== undefined && contentEncoding.trim().toLowerCase() !== 'snappy') {
    throw new UnsupportedMediaTypeError(
      'unsupported_encoding',
      `Content-Encoding ${JSON.stringify(contentEncoding)} is not supported; remote write bodies must be Content-Encoding: snappy (block format)`,
    );
  }
  if (contentType === undefined) return;
  const normalized = contentType.toLowerCase().replace(/\s+/g, '');
  if (RW1_TYPES.has(normalized)) return;
  if (normalized === RW2_TYPE) {
    throw new UnsupportedMediaTypeError(
      'unsupported_content_type',
      `remote write 2.0 (${contentType}) is not supported yet; send remote write 1.0: Content-Type: application/x-protobuf (Prometheus: protobuf_message: prometheus.WriteRequest)`,
    );
  }
  throw new UnsupportedMediaTypeError(
    'unsupported_content_type',
    `Content-Type ${JSON.stringify(contentType)} is not supported; expected application/x-protobuf (remote write 1.0)`,
  );
}

/** The server-wide body cap's setting, named in messages. */
export const SERVER_BODY_LIMIT = 'server.max_body_bytes';

/**
 * Refuse early when the sender declares a body over the cap (fastify also enforces the server's
 * cap while reading). `setting` names the cap in the message.
 */
export function checkDeclaredLength(contentLength: string | undefined, maxBodyBytes: number, setting = SERVER_BODY_LIMIT): void {
  if (contentLength === undefined) return;
  const declared = Number(contentLength);
  if (Number.isFinite(declared) && declared > maxBodyBytes) throw bodyTooLarge(declared, maxBodyBytes, setting);
}

export function bodyTooLarge(received: number | undefined, maxBodyBytes: number, setting = SERVER_BODY_LIMIT): PayloadTooLargeError {
  const size = received === undefined ? 'the body' : `${received} bytes`;
  return new PayloadTooLargeError(
    `${size} is over the limit of ${maxBodyBytes} bytes (${setting}); lower queue_config.max_samples_per_send on the sender or raise ${setting}`,
  );
}
