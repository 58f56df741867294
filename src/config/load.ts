/**
 * Read and validate a config file. Every problem is reported with its field path, all at once, so
 * an operator fixes a file in one pass.
 */
import { readFileSync } from 'node:fs';
import { parseDocument } from 'yaml';
import { ConfigError } from '../errors.js';
import { type Config, configSchema } from './schema.js';

/** Validate an already-parsed value (the YAML document's contents). */
export function parseConfig(raw: unknown, source = 'config'): Config {
  const result = configSchema.safeParse(raw ?? {});
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const path = issue.path
      .map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`))
      .join('');
    const unknown = issue.code === 'unrecognized_keys' ? `unknown key(s) ${issue.keys.map((k) => `"${k}"`).join(', ')}` : undefined;
    return `${path || '(top level)'}: ${unknown ?? issue.message}`;
  });
  throw new ConfigError(source, problems);
}

/** Parse YAML text; syntax errors name line and column. */
export function parseConfigText(text: string, source = 'config'): Config {
  // Integers are read as BigInt so a hashmod `modulus` keeps all 64 bits; every other integer
  // becomes a number again below.
  const doc = parseDocument(text, { uniqueKeys: true, intAsBigInt: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      source,
      doc.errors.map((e) => `YAML ${e.linePos ? `line ${e.linePos[0].line} column ${e.linePos[0].col}` : ''}: ${e.message.split('\n')[0]}`),
    );
  }
  const value: unknown = doc.toJS({
    reviver: (key: unknown, v: unknown) => (typeof v === 'bigint' && key !== 'modulus' ? Number(v) : v),
  });
  return parseConfig(value, source);
}

export function loadConfigFile(path: string): Config {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(path, [`cannot read file: ${(err as Error).message}`]);
  }
  return parseConfigText(text, path);
}
