#!/usr/bin/env node
/**
 * The `tributary` binary. Exit codes: 0 ok, 1 runtime failure, 2 usage or config error.
 */
import { Command, CommanderError } from 'commander';
import { ConfigError } from './errors.js';
import { registerCheckConfigCommand } from './cli/check-config.js';
import { CliExit, EXIT_RUNTIME, EXIT_USAGE } from './cli/exit.js';
import { registerQueueCommands } from './cli/queue.js';
import { registerRelabelCommand } from './cli/relabel.js';
import { registerServeCommand } from './cli/serve.js';
import { registerTenantCommands } from './cli/tenant.js';
import { registerTokenCommands } from './cli/token.js';
import { registerUsageCommand } from './cli/usage.js';
import { VERSION } from './version.js';

export function buildProgram(): Command {
  const program = new Command('tributary')
    .description('Prometheus remote-write aggregation receiver')
    .version(VERSION)
    .showHelpAfterError()
    .exitOverride();
  registerServeCommand(program);
  registerTokenCommands(program);
  registerTenantCommands(program);
  registerUsageCommand(program);
  registerQueueCommands(program);
  registerCheckConfigCommand(program);
  registerRelabelCommand(program);
  for (const cmd of program.commands) cmd.exitOverride();
  return program;
}

async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end through here with exit code 0.
      return err.exitCode === 0 ? 0 : EXIT_USAGE;
    }
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      return EXIT_USAGE;
    }
    if (err instanceof CliExit) {
      process.stderr.write(`${err.message}\n`);
      return err.exitCode;
    }
    process.stderr.write(`tributary: ${(err as Error).message}\n`);
    return EXIT_RUNTIME;
  }
}

main(process.argv).then((code) => {
  // serve keeps running (its listeners hold the loop open); other commands end here.
  if (code !== 0) process.exit(code);
});
