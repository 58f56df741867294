/**
 * `tributary relabel --config FILE [--tenant T] [--backend B] [--explain]`: the relabel debugger.
 * Reads label sets as JSON lines on stdin and prints, per line, what the configured chain (global,
 * tenant, backend) makes of it: the labels, or null when a rule dropped the series. The input is
 * taken as the series would look after the cluster lock (its cluster label already right).
 */
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import type { Command } from 'commander';
import { loadConfigFile } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { type ChainObserver, RelabeledLabels, type RelabelStage, relabelStages, TenantChain } from '../relabel/chain.js';
import { sortedNames } from '../relabel/engine.js';
import { CliExit, EXIT_USAGE } from './exit.js';
import { outputOf } from './output.js';

interface RelabelOptions {
  config: string;
  tenant?: string;
  backend?: string;
  explain?: boolean;
}

/** One rule's effect, as `--explain` prints it. */
interface Step {
  rule: string;
  action: string;
  set?: Record<string, string>;
  removed?: string[];
  dropped?: true;
  cluster_label_restored?: true;
}

/** Which backend's rules apply: the named one, the only one, or none (shared stages only). */
function pickBackend(config: Config, name: string | undefined): number | undefined {
  if (name === undefined) return config.backends.length === 1 ? 0 : undefined;
  const index = config.backends.findIndex((b) => b.name === name);
  if (index < 0) throw new CliExit(EXIT_USAGE, `unknown backend "${name}"; the config has: ${config.backends.map((b) => b.name).join(', ')}`);
  return index;
}

/** Where a rule sits in the config, named the way config errors name it. */
function ruleLocation(stage: RelabelStage, index: number, tenant: string, backend: string | undefined): string {
  if (stage === 'global') return `relabel_configs[${index}]`;
  if (stage === 'tenant') return `tenants.${tenant}.relabel_configs[${index}]`;
  return `backends.${backend}.write_relabel_configs[${index}]`;
}

function parseLine(line: string, lineNo: number): Map<string, string> {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (err) {
    throw new CliExit(EXIT_USAGE, `stdin line ${lineNo}: not JSON (${(err as Error).message})`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new CliExit(EXIT_USAGE, `stdin line ${lineNo}: expected a JSON object of label names to values, like {"__name__":"up","job":"node"}`);
  }
  const labels = new Map<string, string>();
  for (const [name, v] of Object.entries(value)) {
    if (typeof v !== 'string') throw new CliExit(EXIT_USAGE, `stdin line ${lineNo}: the value of label "${name}" is not a string`);
    // As on the wire: an empty value is no label.
    if (v !== '') labels.set(name, v);
  }
  return labels;
}

function toObject(labels: ReadonlyMap<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of sortedNames(labels)) out[name] = labels.get(name) as string;
  return out;
}

export function registerRelabelCommand(program: Command, stdin: () => Readable = () => process.stdin): void {
  program
    .command('relabel')
    .description(
      'apply the configured relabel rules (global, then --tenant, then --backend) to label sets read as JSON lines on stdin; print the result per line, null when dropped',
    )
    .requiredOption('--config <file>', 'config file (YAML)')
    .option('--tenant <tenant>', "also apply this tenant's relabel_configs")
    .option('--backend <name>', "also apply this backend's write_relabel_configs (default: the only backend, if there is one)")
    .option('--explain', 'print, per line, which rule changed what')
    .action(async (opts: RelabelOptions, command: Command) => {
      const out = outputOf(command);
      const config = loadConfigFile(opts.config);
      const backend = pickBackend(config, opts.backend);
      const backendName = backend === undefined ? undefined : (config.backends[backend]?.name as string);
      const stages = relabelStages(config);
      const tenant = opts.tenant ?? '';
      const chain = new TenantChain(
        { ...stages, backends: backend === undefined ? [] : [stages.backends[backend] ?? []] },
        tenant,
        1,
        config.cluster_label,
      );

      let lineNo = 0;
      for await (const line of createInterface({ input: stdin(), crlfDelay: Number.POSITIVE_INFINITY })) {
        lineNo++;
        if (line.trim() === '') continue;
        const input = parseLine(line, lineNo);
        const steps: Step[] = [];
        const observer: ChainObserver = {
          rule(stage, index, before, after) {
            const rule = (stage === 'global' ? stages.global : stage === 'tenant' ? (stages.tenants.get(tenant) ?? []) : (stages.backends[backend ?? 0] ?? []))[index];
            const step: Step = { rule: ruleLocation(stage, index, tenant, backendName), action: rule?.action ?? '' };
            if (after === null) step.dropped = true;
            else {
              const set: Record<string, string> = {};
              for (const name of sortedNames(after)) if (before.get(name) !== after.get(name)) set[name] = after.get(name) as string;
              const removed = sortedNames(before).filter((name) => !after.has(name));
              if (Object.keys(set).length > 0) step.set = set;
              if (removed.length > 0) step.removed = removed;
            }
            steps.push(step);
          },
          clusterRestored(stage) {
            steps.push({ rule: `${stage} stage`, action: 'cluster label guard', cluster_label_restored: true });
          },
        };
        const outcome = chain.run(input, opts.explain ? observer : undefined);
        const result = outcome.droppedAt !== undefined ? 'dropped' : (outcome.backends[0] ?? 'unchanged');
        let labels: Record<string, string> | null;
        if (result === 'dropped') labels = null;
        else if (result instanceof RelabeledLabels) {
          labels = {};
          for (let i = 0; i < result.names.length; i++) labels[(result.names[i] as Buffer).toString()] = (result.values[i] as Buffer).toString();
        } else labels = toObject(input);
        out.out(`${JSON.stringify(opts.explain ? { labels, steps } : labels)}\n`);
      }
      if (backend === undefined && config.backends.length > 1) {
        out.err(`note: no --backend given and the config has ${config.backends.length}; only the global and tenant rules were applied\n`);
      }
    });
}
