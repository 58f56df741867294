/**
 * Run tributary CLI commands in-process: a fresh commander program per call, output captured, and
 * the exit code derived from what `parseAsync` throws, the way src/main.ts does (CommanderError →
 * its exit code, CliExit → message and its code, ConfigError → message and 2).
 */
import { Command, CommanderError } from 'commander';
import { CliExit, EXIT_USAGE } from '../../src/cli/exit.js';
import { registerQueueCommands } from '../../src/cli/queue.js';
import { registerTenantCommands } from '../../src/cli/tenant.js';
import { registerTokenCommands, tributaryExitOverride } from '../../src/cli/token.js';
import { registerUsageCommand } from '../../src/cli/usage.js';
import { ConfigError } from '../../src/errors.js';

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Run `args` against a program with the commands `register` adds. */
export async function runCli(register: (program: Command) => void, args: readonly string[]): Promise<CliResult> {
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
  register(program);
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

export const runTokenCli = (args: readonly string[]): Promise<CliResult> => runCli(registerTokenCommands, args);
export const runQueueCli = (args: readonly string[]): Promise<CliResult> => runCli(registerQueueCommands, args);
export const runTenantCli = (args: readonly string[]): Promise<CliResult> => runCli(registerTenantCommands, args);
export const runUsageCli = (args: readonly string[]): Promise<CliResult> => runCli(registerUsageCommand, args);
