/** `tributary check-config FILE`: validate a config file, print every problem with its field path. */
import type { Command } from 'commander';
import { loadConfigFile } from '../config/load.js';

export function registerCheckConfigCommand(program: Command): void {
  program
    .command('check-config')
    .description('validate a config file; exit 0 when it is usable, 2 with every problem listed otherwise')
    .argument('<file>', 'config file (YAML)')
    .action((file: string) => {
      const config = loadConfigFile(file);
      process.stdout.write(
        `${file}: OK (${config.backends.length} backend(s): ${config.backends.map((b) => b.name).join(', ')}; ${config.tokens.length} token(s) declared in the file; ${Object.keys(config.tenants).length} tenant override(s))\n`,
      );
    });
}
