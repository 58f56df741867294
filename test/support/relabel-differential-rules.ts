/**
 * The rule set of the relabel differential e2e test (test/e2e/relabel-differential.test.ts).
 *
 * One list, applied twice to the same series: by the edge Prometheus 2.42 itself as the
 * `write_relabel_configs` of a remote_write entry (the reference), and by tributary split over its
 * three stages (global `relabel_configs`, then the tenant's, then the backend's
 * `write_relabel_configs`). Every action and the tricky corners of RE2 syntax and Go template
 * expansion appear at least once. Constraints the list respects:
 * - `cluster` is never written or removed (tributary refuses such rules);
 * - no rule merges two distinct input series into one label set (only labels the rules themselves
 *   derive are deleted), otherwise both centrals would see duplicate samples and refuse batches;
 * - every label name the rules produce is a valid legacy name.
 *
 * The input is what an agent-mode edge scraping node_exporter (job `node`) and itself (job
 * `prometheus`) sends, with `external_labels: {cluster: edge-x}` already added.
 */

/** One Prometheus `relabel_config`, as YAML fields. */
export interface RelabelRule {
  readonly source_labels?: readonly string[];
  readonly separator?: string;
  readonly regex?: string;
  readonly modulus?: number;
  readonly target_label?: string;
  readonly replacement?: string;
  readonly action?: string;
}

/** The value set with `replace` and then upper/lowercased (Go maps per code point, simple mappings only). */
export const UNICODE_VALUE = 'straße İSTANBUL ΟΔΟΣ ﬁ ǅ';
/** Go `strings.ToUpper`: ß and the ﬁ ligature have no simple uppercase; ǅ (titlecase) becomes Ǆ. */
export const UNICODE_UPPER = 'STRAßE İSTANBUL ΟΔΟΣ ﬁ Ǆ';
/** Go `strings.ToLower`: İ becomes plain i (no U+0307), final Σ becomes σ (no ς), ǅ becomes ǆ. */
export const UNICODE_LOWER = 'straße istanbul οδοσ ﬁ ǆ';
/** Rule `uni_parts` below: `${2}|$3|${w1}|$w1x|$1x`, where `$w1x` and `$1x` name groups that do not exist. */
export const UNICODE_PARTS = 'İSTANBUL|ΟΔΟΣ|straße||';

/** Global stage (tributary: top-level `relabel_configs`). */
const GLOBAL: readonly RelabelRule[] = [
  // replace with every default but source and target: job_copy = job.
  { source_labels: ['job'], target_label: 'job_copy' },
  // No source labels: the value is "" and the default (.*) matches it, so the label is always set.
  { target_label: 'uni', replacement: UNICODE_VALUE },
  { action: 'uppercase', source_labels: ['uni'], target_label: 'uni_up' },
  { action: 'lowercase', source_labels: ['uni'], target_label: 'uni_low' },
  // A __tmp_ label: target relabeling would strip it, remote write sends it.
  { source_labels: ['job'], regex: '(.+)', target_label: '__tmp_keepme', replacement: 'sent-${1}' },
  // hashmod of instance (md5, bytes 8..15 big-endian, mod 2).
  { action: 'hashmod', source_labels: ['instance'], modulus: 2, target_label: 'shard' },
  // A missing source label still contributes "" and its separator: the value is "|<job>".
  { source_labels: ['no_such_label', 'job'], separator: '|', regex: '\\|(.+)', target_label: 'miss', replacement: 'missing-first:$1' },
];

/** Tenant stage (tributary: `tenants.team-a.relabel_configs`). */
const TENANT: readonly RelabelRule[] = [
  // labelmap with a named group: lm_mode, lm_device, lm_collector copies (originals stay).
  { action: 'labelmap', regex: '(?P<k>mode|device|collector)', replacement: 'lm_${k}' },
  // keepequal where both sides are often missing: missing == "" == missing, so this keeps everything.
  { action: 'keepequal', source_labels: ['device'], target_label: 'lm_device' },
  // job_guess = job, then overwritten from the metric name; for go_* and process_* the group does not
  // participate, ${1} expands to "", and the empty replacement deletes job_guess.
  { source_labels: ['job'], target_label: 'job_guess' },
  { source_labels: ['__name__'], regex: '(node|prometheus)_.*|(?:go|process)_.*', target_label: 'job_guess', replacement: '${1}' },
  // ...so this keepequal drops every go_* and process_* series of both jobs.
  { action: 'keepequal', source_labels: ['job'], target_label: 'job_guess' },
  // Drop whole families: alternation, and (?i) switched on in the middle of an alternation.
  { action: 'drop', source_labels: ['__name__'], regex: 'node_(?:softnet|scrape_collector)_[a-z_]+|(?i)NODE_VMSTAT_\\w+' },
  // keep with a separator other than ';' and a POSIX class: names with digits (node_load1 ...) go.
  { action: 'keep', source_labels: ['__name__', 'job'], separator: '@', regex: '[[:alpha:]_]+@(?:node|prometheus)' },
  // dropequal: node_cpu_seconds_total of the cpu whose number equals the instance's shard goes.
  { action: 'dropequal', source_labels: ['cpu'], target_label: 'shard' },
];

/** Backend stage (tributary: the backend's `write_relabel_configs`). */
const BACKEND: readonly RelabelRule[] = [
  // Templates in target_label (${name}) and replacement ($name): fam_node="cpu", fam_prometheus="tsdb" ...
  { source_labels: ['__name__'], regex: '(?P<sub>node|prometheus)_(?P<rest>[[:alpha:]]+)_.*', target_label: 'fam_${sub}', replacement: '$rest' },
  // $1 in target_label, \d, a negated POSIX class: port_<port>="p<port>".
  { source_labels: ['instance'], regex: '[[:^digit:]]*(?:\\d+\\.){3}\\d+:(?P<port>\\d+)', target_label: 'port_$1', replacement: 'p${port}' },
  // (?i) with Unicode folding (ẞ matches ß), \pL, \p{Greek}; $w1x and $1x name groups that do not exist.
  { source_labels: ['uni'], regex: '(?i)(?P<w1>STRAẞE) (\\pL+) (\\p{Greek}+) .*', target_label: 'uni_parts', replacement: '${2}|$3|${w1}|$w1x|$1x' },
  // Rename a family: node_network_<x>_total -> nn_<x>_total.
  { source_labels: ['__name__'], regex: 'node_network_(.+)_total', target_label: '__name__', replacement: 'nn_${1}_total' },
  // Reading the cluster label is allowed.
  { source_labels: ['cluster'], regex: 'edge-(.*)', target_label: 'cluster_suffix', replacement: '$1' },
  // Scratch labels removed below: one by labeldrop (matched case-insensitively), one by labelkeep.
  { target_label: 'Scratch_one', replacement: 'x' },
  { target_label: 'Xtra', replacement: 'y' },
  { action: 'uppercase', source_labels: ['job_copy'], target_label: 'job_up' },
  // Empty replacement: deletes job_copy for the prometheus job.
  { source_labels: ['job_copy'], regex: 'prom.*', target_label: 'job_copy', replacement: '' },
  { action: 'labeldrop', regex: '(?i)scratch_.*|job_guess' },
  // labelkeep keeping every name that starts with a lowercase letter, __name__, cluster and __tmp_*.
  { action: 'labelkeep', regex: '__name__|cluster|__tmp_[[:alnum:]_]+|[a-z][a-z0-9_]*' },
  // Corners, each checked against Prometheus 2.42:
  // the action name is case-insensitive;
  { action: 'Keep', source_labels: ['job'], regex: 'node|prometheus' },
  // hashmod with the largest modulus a JS number holds exactly, and one over two labels;
  { action: 'hashmod', source_labels: ['instance'], modulus: 9007199254740991, target_label: 'h53' },
  { action: 'hashmod', source_labels: ['__name__', 'instance'], modulus: 1000000007, target_label: 'hbig' },
  // regex "" matches only the empty string (a missing label's value);
  { source_labels: ['no_such_label'], regex: '', target_label: 'regex_empty', replacement: 'matched' },
  // (?U) swaps greedy and lazy: node_cpu|seconds_total;
  { source_labels: ['__name__'], regex: '(?U)(node_.+)_(.+)', target_label: 'ungreedy', replacement: '$1|$2' },
  // \Q...\E and $0 (the whole match);
  { source_labels: ['job'], regex: '\\Qno\\Ede|prom.*', target_label: 'quoted', replacement: 'q-$0' },
  // a group inside a repetition keeps the value of the last iteration that set it (Go), so node-cpu;
  { source_labels: ['__name__'], regex: '(?:(node)|(cpu)|[a-z_])+', target_label: 'rep_caps', replacement: '${1}-${2}' },
  // labelmap mapping several labels onto one name: the last in name order (mode) wins;
  { action: 'labelmap', regex: 'lm_mode|mode|cpu', replacement: 'coll' },
  // (?i) folds K (U+212A KELVIN SIGN) with k;
  { target_label: 'kelvin', replacement: '\u212a' },
  { source_labels: ['kelvin'], regex: '(?i)k', target_label: 'kelvin_matched', replacement: 'yes' },
  // a target that expands to an invalid name ("127.0.0.1:port") makes the rule a no-op;
  { source_labels: ['instance'], target_label: '${1}', replacement: 'bad' },
  // $$ is a literal $, $job names a missing group, ${job without } is copied literally: "$1--${job";
  { source_labels: ['job'], target_label: 'dollar', replacement: '$$1-$job-${job' },
  // textual anchoring: ^(?:node)|(prom.*)$, so node matches without a group 1;
  { source_labels: ['job'], regex: 'node)|(prom.*', target_label: 'wrap', replacement: 'w$1' },
  // a { that starts no repeat is a literal; \x64 is d;
  { source_labels: ['job'], regex: 'x{,2}|n{1}o\\x64[^\\d]', target_label: 'brace', replacement: 'b' },
  // duplicate group names (the first that participated wins) and a digit-leading name;
  { source_labels: ['__name__'], regex: '(?P<a>node)_(?P<a>[a-z]+)_.*|(?P<01>prom)etheus_.*', target_label: 'dupnames', replacement: '${a}.$01' },
  { source_labels: ['uni'], regex: '[^\\s]+\\s(\\S+).*', target_label: 'second_word', replacement: '$1' },
  // an empty separator;
  { action: 'lowercase', source_labels: ['job_up', 'uni_up'], separator: '', target_label: 'lc_concat' },
];

/** The three stages, in the order tributary applies them. */
export const RULE_STAGES = { global: GLOBAL, tenant: TENANT, backend: BACKEND } as const;

/** The whole list, as the edge applies it in one `write_relabel_configs`. */
export const RULES: readonly RelabelRule[] = [...GLOBAL, ...TENANT, ...BACKEND];
