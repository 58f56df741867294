/**
 * Validation of Kubernetes objects against the API schemas, from the kubernetes-models packages,
 * in two passes:
 * - `validateObject`: the models' JSON-schema validation (required fields, types, enums). It lets
 *   unknown fields through, as the API server's non-strict decoding would drop them silently.
 * - `unknownFieldErrors`: the objects as typed object literals, type-checked by the TypeScript
 *   compiler against the same models' interfaces. An excess-property error is what
 *   `kubectl apply --validate=strict` would refuse: a misspelt or misplaced field.
 */
import { join } from 'node:path';
import type { Model } from '@kubernetes-models/base';
import { PrometheusAgent } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1alpha1/PrometheusAgent';
import { DaemonSet, Deployment, StatefulSet } from 'kubernetes-models/apps/v1';
import { NetworkPolicy, Ingress } from 'kubernetes-models/networking.k8s.io/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { ClusterRole, ClusterRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import { ConfigMap, Namespace, Service, ServiceAccount } from 'kubernetes-models/v1';
import ts from 'typescript';
import type { K8sObject } from './kustomize.js';

const repoRoot = join(import.meta.dirname, '..', '..');

interface Kind {
  readonly model: new (data: never) => Model<unknown>;
  /** The module and interface of its type, for the strict check. */
  readonly typeModule: string;
  readonly typeName: string;
}

const core = (name: string, model: Kind['model']): Kind => ({ model, typeModule: `kubernetes-models/v1/${name}`, typeName: `I${name}` });
const group = (groupVersion: string, name: string, model: Kind['model']): Kind => ({ model, typeModule: `kubernetes-models/${groupVersion}/${name}`, typeName: `I${name}` });

/** Every kind deploy/kubernetes may use, by `apiVersion kind`. Another kind fails the tests until it is added here. */
const KINDS: ReadonlyMap<string, Kind> = new Map([
  ['v1 Namespace', core('Namespace', Namespace)],
  ['v1 ServiceAccount', core('ServiceAccount', ServiceAccount)],
  ['v1 Service', core('Service', Service)],
  ['v1 ConfigMap', core('ConfigMap', ConfigMap)],
  ['apps/v1 Deployment', group('apps/v1', 'Deployment', Deployment)],
  ['apps/v1 StatefulSet', group('apps/v1', 'StatefulSet', StatefulSet)],
  ['apps/v1 DaemonSet', group('apps/v1', 'DaemonSet', DaemonSet)],
  ['rbac.authorization.k8s.io/v1 ClusterRole', group('rbac.authorization.k8s.io/v1', 'ClusterRole', ClusterRole)],
  ['rbac.authorization.k8s.io/v1 ClusterRoleBinding', group('rbac.authorization.k8s.io/v1', 'ClusterRoleBinding', ClusterRoleBinding)],
  ['policy/v1 PodDisruptionBudget', group('policy/v1', 'PodDisruptionBudget', PodDisruptionBudget)],
  ['networking.k8s.io/v1 NetworkPolicy', group('networking.k8s.io/v1', 'NetworkPolicy', NetworkPolicy)],
  ['networking.k8s.io/v1 Ingress', group('networking.k8s.io/v1', 'Ingress', Ingress)],
  [
    'monitoring.coreos.com/v1alpha1 PrometheusAgent',
    {
      model: PrometheusAgent,
      typeModule: '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1alpha1/PrometheusAgent',
      typeName: 'IPrometheusAgent',
    },
  ],
]);

function kindOf(o: K8sObject): Kind {
  const kind = KINDS.get(`${o.apiVersion} ${o.kind}`);
  if (!kind) throw new Error(`${o.apiVersion} ${o.kind} is not a kind the deploy tests know (add it to KINDS)`);
  return kind;
}

/** Throws the models' validation error, prefixed with `where`. */
export function validateObject(o: K8sObject, where: string): void {
  const { model: ModelClass } = kindOf(o);
  try {
    new ModelClass(o as never).validate();
  } catch (err) {
    throw new Error(`${where}: ${o.kind} ${o.metadata?.name}: ${(err as Error).message}`);
  }
}

/**
 * Type-checks every object as a literal of its kind's interface and returns the errors, each with
 * the `where` of its object. The compiler reports the first problem of each object.
 */
export function unknownFieldErrors(objects: ReadonlyArray<{ readonly where: string; readonly object: K8sObject }>): string[] {
  // A virtual file inside the repository, so that its imports resolve in node_modules.
  const file = join(repoRoot, 'test', '__deploy_manifests__.ts');
  const lineOwner: string[] = [];
  const lines: string[] = [];
  objects.forEach(({ where, object }, i) => {
    const { typeModule, typeName } = kindOf(object);
    lines.push(`import type { ${typeName} as T${i} } from '${typeModule}';`);
    lineOwner.push('');
    for (const line of `export const m${i}: T${i} = ${JSON.stringify(object, null, 1)};`.split('\n')) {
      lines.push(line);
      lineOwner.push(`${where}: ${object.kind} ${object.metadata?.name}`);
    }
  });
  const text = lines.join('\n');
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    module: ts.ModuleKind.CommonJS,
    moduleResolution: ts.ModuleResolutionKind.Node10,
    skipLibCheck: true,
    types: [],
  };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  const fileExists = host.fileExists.bind(host);
  host.getSourceFile = (name, language, ...rest) => (name === file ? ts.createSourceFile(name, text, language) : getSourceFile(name, language, ...rest));
  host.fileExists = (name) => name === file || fileExists(name);
  const program = ts.createProgram([file], options, host);
  return ts.getPreEmitDiagnostics(program).map((d) => {
    const message = ts.flattenDiagnosticMessageText(d.messageText, '\n');
    if (d.file?.fileName !== file || d.start === undefined) return message;
    const { line } = d.file.getLineAndCharacterOfPosition(d.start);
    return `${lineOwner[line] ?? '?'} (${lines[line]?.trim()}): ${message}`;
  });
}
