/**
 * End-to-end tests need Debian's prometheus and prometheus-node-exporter. Locally a missing binary
 * skips them with a message; under CI=true it fails the run (CI must prove the real thing).
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { INSTALL_HINT, missingBinaries } from '../../scripts/lib/topology.js';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const TRIBUTARY_MAIN = `${REPO_ROOT}dist/src/main.js`;

/** True when e2e tests can run; throws under CI when they cannot. */
export function e2eAvailable(): boolean {
  const missing = missingBinaries();
  if (!existsSync(TRIBUTARY_MAIN)) missing.push(`${TRIBUTARY_MAIN} (run npm run build)`);
  if (missing.length === 0) return true;
  const message = `e2e tests need ${missing.join(', ')}; ${INSTALL_HINT}`;
  if (process.env.CI === 'true') throw new Error(message);
  console.warn(`SKIPPING e2e: ${message}`);
  return false;
}

/** Poll `check` until it returns a value other than undefined, or fail after `timeoutMs`. */
export async function eventually<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 60_000, intervalMs = 500): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError = '';
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      lastError = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? ` (last error: ${lastError})` : ''}`);
}

/** The sum of the samples of `name` whose labels include `labels`, scraped from `url`/metrics. */
export async function scrapeMetric(url: string, name: string, labels: Record<string, string>): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}
