/**
 * A renderer for the part of kustomize that deploy/kubernetes uses, so the overlays render in every
 * test run without a cluster and without kubectl: Debian has no kustomize, and its kubectl (1.20)
 * carries kustomize 2, which cannot read directory resources. Where a recent kubectl is on PATH,
 * the tests compare this renderer's output with `kubectl kustomize`, object for object, hash
 * suffixes included.
 *
 * Supported: `resources` (files, and directories holding a kustomization), `namespace`,
 * `configMapGenerator` (`files`, `literals`, `behavior` create/replace/merge, name hash suffix and
 * the references to it in pod specs) and `images`. Any other field is an error, so a kustomization
 * can never use a feature this renderer silently ignores.
 */
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { basename, isAbsolute, join, relative, resolve } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';

export type K8sObject = Record<string, unknown> & {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; [key: string]: unknown };
};

interface Generated {
  /** The generator's name, before the hash suffix: overlays replace or merge by it. */
  readonly generatorName: string;
  readonly object: K8sObject;
}

interface Rendered {
  readonly objects: K8sObject[];
  readonly generated: Generated[];
}

const SUPPORTED_FIELDS = new Set(['apiVersion', 'kind', 'namespace', 'resources', 'configMapGenerator', 'images']);
const CLUSTER_SCOPED = new Set(['Namespace', 'ClusterRole', 'ClusterRoleBinding', 'PersistentVolume', 'StorageClass', 'CustomResourceDefinition', 'IngressClass']);

/** Render the kustomization in `dir` as `kubectl kustomize dir` would. */
export function renderKustomization(dir: string): K8sObject[] {
  const { objects, generated } = build(resolve(dir));
  const names = new Map<string, string>();
  for (const g of generated) {
    const hashed = `${g.generatorName}-${kustomizeHash(g.object)}`;
    names.set(`${g.object.metadata.namespace ?? ''}/${g.generatorName}`, hashed);
    g.object.metadata.name = hashed;
  }
  for (const o of objects) renameConfigMapReferences(o, names);
  return [...objects, ...generated.map((g) => g.object)];
}

/** The parsed kustomization.yaml of `dir`. */
export function kustomizationOf(dir: string): Record<string, unknown> {
  return parse(readFileSync(join(dir, 'kustomization.yaml'), 'utf8')) as Record<string, unknown>;
}

function build(dir: string): Rendered {
  const k = kustomizationOf(dir);
  for (const field of Object.keys(k)) {
    if (!SUPPORTED_FIELDS.has(field)) throw new Error(`${dir}/kustomization.yaml: field "${field}" is not supported by the test renderer`);
  }
  const objects: K8sObject[] = [];
  const generated: Generated[] = [];
  for (const entry of stringList(k.resources, 'resources', dir)) {
    const path = resolve(dir, entry);
    if (statSync(path).isDirectory()) {
      const base = build(path);
      objects.push(...base.objects);
      generated.push(...base.generated);
    } else {
      objects.push(...readObjects(insideRoot(dir, entry)));
    }
  }
  for (const gen of list(k.configMapGenerator, 'configMapGenerator', dir)) applyGenerator(gen, dir, generated);

  const namespace = k.namespace;
  if (namespace !== undefined) {
    if (typeof namespace !== 'string') throw new Error(`${dir}: namespace must be a string`);
    for (const o of [...objects, ...generated.map((g) => g.object)]) {
      if (!CLUSTER_SCOPED.has(o.kind)) o.metadata.namespace = namespace;
    }
  }
  for (const image of list(k.images, 'images', dir)) {
    for (const o of objects) setImage(o, image);
  }
  return { objects, generated };
}

/** A file of the kustomization: kustomize refuses files outside its directory (bases may be anywhere). */
function insideRoot(dir: string, entry: string): string {
  const path = resolve(dir, entry);
  const rel = relative(dir, path);
  if (rel.startsWith('..') || isAbsolute(rel)) throw new Error(`${dir}: file ${entry} is not in or below the kustomization's directory`);
  return path;
}

function readObjects(path: string): K8sObject[] {
  return parseAllDocuments(readFileSync(path, 'utf8'))
    .map((doc) => {
      if (doc.errors.length > 0) throw new Error(`${path}: ${doc.errors[0]?.message}`);
      return doc.toJS() as K8sObject | null;
    })
    .filter((o): o is K8sObject => o !== null);
}

function applyGenerator(gen: Record<string, unknown>, dir: string, generated: Generated[]): void {
  const name = gen.name;
  if (typeof name !== 'string') throw new Error(`${dir}: configMapGenerator entry without a name`);
  const data: Record<string, string> = {};
  for (const entry of stringList(gen.files, 'files', dir)) {
    const eq = entry.indexOf('=');
    const [key, file] = eq >= 0 ? [entry.slice(0, eq), entry.slice(eq + 1)] : [basename(entry), entry];
    data[key] = readFileSync(insideRoot(dir, file), 'utf8');
  }
  for (const entry of stringList(gen.literals, 'literals', dir)) {
    const eq = entry.indexOf('=');
    if (eq <= 0) throw new Error(`${dir}: literal "${entry}" is not key=value`);
    data[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  const behavior = gen.behavior ?? 'create';
  const existing = generated.find((g) => g.generatorName === name);
  if (behavior === 'create') {
    if (existing) throw new Error(`${dir}: configMapGenerator ${name} already exists (use behavior: replace or merge)`);
    generated.push({ generatorName: name, object: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data } });
    return;
  }
  if (!existing) throw new Error(`${dir}: configMapGenerator ${name} has behavior ${String(behavior)} but no base generates it`);
  if (behavior === 'replace') existing.object.data = data;
  else if (behavior === 'merge') existing.object.data = { ...(existing.object.data as Record<string, string>), ...data };
  else throw new Error(`${dir}: configMapGenerator ${name}: unknown behavior ${String(behavior)}`);
}

/**
 * kustomize's name suffix for a ConfigMap: the first 10 hex digits of the SHA-256 of its data and
 * kind as Go's encoding/json writes them (keys sorted, <>& escaped), with 0 1 3 a e swapped for
 * letters that cannot spell words. Its `name` field is always "": kustomize looks the name up
 * with a path it cannot resolve, and the tests hold this to kubectl's output.
 */
export function kustomizeHash(configMap: K8sObject): string {
  const encoded = goJson({ data: configMap.data ?? {}, kind: 'ConfigMap', name: '' });
  const hex = createHash('sha256').update(encoded).digest('hex');
  const swap: Record<string, string> = { '0': 'g', '1': 'h', '3': 'k', a: 'm', e: 't' };
  return [...hex.slice(0, 10)].map((c) => swap[c] ?? c).join('');
}

function goJson(value: unknown): string {
  const sorted = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(sorted);
    if (v !== null && typeof v === 'object') {
      return Object.fromEntries(
        Object.keys(v)
          .sort()
          .map((k) => [k, sorted((v as Record<string, unknown>)[k])]),
      );
    }
    return v;
  };
  return JSON.stringify(sorted(value)).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** The pod spec of a workload (Deployment, StatefulSet, DaemonSet, Job) or of a Pod. */
export function podSpecOf(o: K8sObject): Record<string, unknown> | undefined {
  const spec = o.spec as Record<string, unknown> | undefined;
  if (o.kind === 'Pod') return spec;
  const template = spec?.template as { spec?: Record<string, unknown> } | undefined;
  return template?.spec;
}

export interface Container {
  name: string;
  image: string;
  args?: string[];
  env?: Array<{ name: string; value?: string; valueFrom?: { configMapKeyRef?: { name: string; key: string } } }>;
  envFrom?: Array<{ configMapRef?: { name: string } }>;
  ports?: Array<{ name?: string; containerPort: number }>;
  volumeMounts?: Array<{ name: string; mountPath: string; readOnly?: boolean }>;
  [key: string]: unknown;
}

export function containersOf(o: K8sObject): Container[] {
  const pod = podSpecOf(o);
  return [...((pod?.initContainers as Container[] | undefined) ?? []), ...((pod?.containers as Container[] | undefined) ?? [])];
}

function renameConfigMapReferences(o: K8sObject, names: ReadonlyMap<string, string>): void {
  const pod = podSpecOf(o);
  if (!pod) return;
  const rename = (ref: { name: string } | undefined) => {
    const hashed = ref && names.get(`${o.metadata.namespace ?? ''}/${ref.name}`);
    if (ref && hashed) ref.name = hashed;
  };
  for (const v of (pod.volumes as Array<{ configMap?: { name: string }; projected?: { sources?: Array<{ configMap?: { name: string } }> } }> | undefined) ?? []) {
    rename(v.configMap);
    for (const s of v.projected?.sources ?? []) rename(s.configMap);
  }
  for (const c of containersOf(o)) {
    for (const e of c.env ?? []) rename(e.valueFrom?.configMapKeyRef);
    for (const e of c.envFrom ?? []) rename(e.configMapRef);
  }
}

function setImage(o: K8sObject, image: Record<string, unknown>): void {
  for (const c of containersOf(o)) {
    const at = c.image.indexOf('@');
    const withoutDigest = at >= 0 ? c.image.slice(0, at) : c.image;
    const colon = withoutDigest.lastIndexOf(':');
    const name = colon > withoutDigest.lastIndexOf('/') ? withoutDigest.slice(0, colon) : withoutDigest;
    if (name !== image.name) continue;
    const newName = typeof image.newName === 'string' ? image.newName : name;
    c.image = typeof image.newTag === 'string' ? `${newName}:${image.newTag}` : newName;
  }
}

function list(value: unknown, field: string, dir: string): Array<Record<string, unknown>> {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw new Error(`${dir}: ${field} must be a list`);
  return value as Array<Record<string, unknown>>;
}

function stringList(value: unknown, field: string, dir: string): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) throw new Error(`${dir}: ${field} must be a list of strings`);
  return value as string[];
}
