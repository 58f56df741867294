import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../support/e2e.js';

const DEMO = `${REPO_ROOT}dist/scripts/demo.js`;

describe('npm run demo', () => {
  it('is built by npm run build', () => {
    expect(existsSync(DEMO)).toBe(true);
  });

  it('says how to install Prometheus and exits non-zero when it is missing', () => {
    const run = spawnSync(process.execPath, [DEMO, '--once'], {
      env: { ...process.env, PATH: '/nonexistent' },
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('prometheus and prometheus-node-exporter not found on PATH');
    expect(run.stderr).toContain('apt-get install -y prometheus prometheus-node-exporter');
  });

  it('refuses a bad port with a message', () => {
    const run = spawnSync(process.execPath, [DEMO, '--central-port', 'abc'], { encoding: 'utf8', timeout: 20_000 });
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('--central-port must be a port number (got abc)');
  });
});
