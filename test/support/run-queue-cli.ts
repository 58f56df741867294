/**
 * Run `tributary queue ...` in-process, the way test/support/run-cli.ts runs the token commands:
 * a fresh commander program per call, output captured, the exit code derived as src/main.ts does.
 */
import { Command, CommanderError } from 'commander';
import { CliExit, EXIT_USAGE } from '../../src/cli/exit.js';
import { registerQueueCommands } from '../../src/cli/queue.js';
import { tributaryExitOverride } from '../../src/cli/token.js';
import { ConfigError } from '../../src/errors.js';
import type { CliResult } from './run-cli.js';

export async function runQueueCli(args: readonly string[]): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const program = new Command('tributary')
    .configureOutput({
      writeOut: (text) => {
        stdout += text;
      },
      writeErr: (text) => {
        stderr += text;
      },
    })
    .exitOverride(tributaryExitOverride);
  registerQueueCommands(program);
  try {
    await program.parseAsync([...args], { from: 'user' });
    return { code: 0, stdout, stderr };
  } catch (err) {
    if (err instanceof CommanderError) return { code: err.exitCode, stdout, stderr };
    if (err instanceof CliExit) return { code: err.exitCode, stdout, stderr: `${stderr}${err.message}\n` };
    if (err instanceof ConfigError) return { code: EXIT_USAGE, stdout, stderr: `${stderr}${err.message}\n` };
    throw err;
  }
}
