/**
 * promtool (from Debian's prometheus package) for the tests that hold tributary's files against
 * the real tool: relabel regexes, alert rules, dashboard queries, the deploy kit's configs. The
 * deploy tests also run other Debian tools the same way. Without one, a test skips locally with a
 * warning, and fails under CI=true, where it must be proven.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';

export const PROMTOOL = '/usr/bin/promtool';

export interface PromtoolRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** True when promtool is there; `what` names the tests that need it in the warning or the error. */
export function promtoolAvailable(what: string): boolean {
  return debianToolAvailable(PROMTOOL, 'prometheus', what);
}

/**
 * True when `binary` (from the Debian package `debianPackage`, which .ci/run installs) is there.
 * Otherwise the tests named by `what` skip locally with a warning, and fail under CI=true.
 */
export function debianToolAvailable(binary: string, debianPackage: string, what: string): boolean {
  if (existsSync(binary)) return true;
  const message = `${what} need ${binary}; install it with: apt-get install -y ${debianPackage}`;
  if (process.env.CI === 'true') throw new Error(message);
  console.warn(`SKIPPING ${what}: ${message}`);
  return false;
}

/** Run promtool; resolves with its exit code and output whatever the code (a timeout counts as 1). */
export function promtool(args: readonly string[], cwd?: string): Promise<PromtoolRun> {
  return runTool(PROMTOOL, args, cwd);
}

/** Run any program as `promtool` runs promtool. */
export function runTool(binary: string, args: readonly string[], cwd?: string): Promise<PromtoolRun> {
  return new Promise((resolve) => {
    execFile(binary, args, { cwd, maxBuffer: 64 << 20, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1;
      resolve({ code, stdout, stderr });
    });
  });
}
