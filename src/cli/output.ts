/** Where CLI subcommands write: through commander's output configuration. */
import type { Command } from 'commander';

export interface Output {
  out(text: string): void;
  err(text: string): void;
}

/** Write through commander's output configuration, so a test (or main.ts) can capture it. */
export function outputOf(command: Command): Output {
  const config = command.configureOutput();
  return {
    out: (text) => (config.writeOut ? config.writeOut(text) : process.stdout.write(text)),
    err: (text) => (config.writeErr ? config.writeErr(text) : process.stderr.write(text)),
  };
}
