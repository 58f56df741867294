/**
 * What every CLI command that works on the state database shares: the `--data-dir` / `--config`
 * options, opening the database for one command, and the formatting of times.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { type Command, Option } from 'commander';
import { loadConfigFile } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { closeDatabase, type Database, DB_FILE_NAME, openDatabase } from '../state/db.js';
import { CliExit, EXIT_RUNTIME, EXIT_USAGE } from './exit.js';

export interface StateOptions {
  readonly dataDir: string;
  readonly config?: string;
}

/** Add `--data-dir <dir>` and `--config <file>` (which use that config's data_dir). */
export function withStateOptions(command: Command): Command {
  return command
    .option('--data-dir <dir>', 'the state directory', './data')
    .addOption(new Option('--config <file>', "use this config file's data_dir").conflicts('dataDir'));
}

/** The config named by `--config`, or undefined. A config that cannot be loaded throws its `ConfigError` (exit 2). */
export function configOf(options: StateOptions): Config | undefined {
  return options.config === undefined ? undefined : loadConfigFile(options.config);
}

/**
 * Open the state database named by the options, run `fn`, close it. A config that cannot be loaded
 * throws its `ConfigError` (exit 2); a database that cannot be opened is a runtime failure (exit 1).
 */
export function withDatabase<T>(options: StateOptions, fn: (db: Database) => T, config: Config | undefined = configOf(options)): T {
  return withDatabaseIn(config === undefined ? options.dataDir : config.data_dir, fn);
}

/**
 * Open `<dataDir>/tributary.db`, run `fn`, close it. `mustExist`: refuse (exit 1) rather than
 * create an empty database, for commands that only read what a server wrote.
 */
export function withDatabaseIn<T>(dataDir: string, fn: (db: Database) => T, { mustExist = false } = {}): T {
  const path = join(dataDir, DB_FILE_NAME);
  if (mustExist && !existsSync(path)) {
    throw new CliExit(EXIT_RUNTIME, `error: no state database at ${path}; check --data-dir (or data_dir in --config): tributary creates it when it first starts`);
  }
  let db: Database;
  try {
    db = openDatabase(dataDir);
  } catch (err) {
    throw new CliExit(EXIT_RUNTIME, `error: cannot open the state database in ${dataDir}: ${(err as Error).message}`);
  }
  try {
    return fn(db);
  } finally {
    closeDatabase(db);
  }
}

/** Where the options point, for messages. */
export function stateSource(options: StateOptions): string {
  return options.config === undefined ? `${options.dataDir}/${DB_FILE_NAME}` : `the data_dir of ${options.config}`;
}

/** End with a usage error (exit 2), through commander so the help hint is printed. */
export function usageError(command: Command, message: string): never {
  command.error(`error: ${message}`, { exitCode: EXIT_USAGE, code: 'tributary.usage' });
}

export function isoOrNull(ms: number | undefined): string | null {
  return ms === undefined ? null : new Date(ms).toISOString();
}

/** UTC to the second: enough to tell rows apart, narrow enough for a terminal. */
export function formatTime(ms: number | undefined): string {
  return ms === undefined ? '-' : new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}
