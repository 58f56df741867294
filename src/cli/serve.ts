/** `tributary serve --config FILE`: run the receiver until SIGTERM/SIGINT; SIGHUP reloads the config. */
import type { Command } from 'commander';
import pino from 'pino';
import { startServer } from '../server.js';

export function registerServeCommand(program: Command): void {
  program
    .command('serve')
    .description('receive remote write, enforce tokens and cluster labels, forward to the backends')
    .requiredOption('-c, --config <file>', 'config file (YAML)')
    .option('--log-level <level>', 'trace, debug, info, warn or error', 'info')
    .action(async (options: { config: string; logLevel: string }) => {
      // Authorization headers never reach the log: pino redacts them wherever they appear.
      const logger = pino({
        level: options.logLevel,
        base: { service: 'tributary' },
        redact: ['req.headers.authorization', '*.authorization', 'authorization'],
      });
      const running = await startServer(options.config, logger);
      let stopping = false;
      const stop = (signal: string) => {
        if (stopping) return;
        stopping = true;
        logger.info({ signal }, 'shutting down: refusing new writes, draining the queue');
        running.close().then(
          () => process.exit(0),
          (err: unknown) => {
            logger.error({ err }, 'shutdown failed');
            process.exit(1);
          },
        );
      };
      process.on('SIGTERM', () => stop('SIGTERM'));
      process.on('SIGINT', () => stop('SIGINT'));
      process.on('SIGHUP', () => {
        running.reload();
      });
    });
}
