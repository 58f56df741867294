/**
 * The Kubernetes deploy kit (deploy/kubernetes, with deploy/alerts as the central's rules) as a
 * user would apply it, without a cluster:
 * 1. Every manifest file and every rendered kustomization validates against the Kubernetes API
 *    schemas (kubernetes-models), with unknown fields refused as `kubectl apply --validate=strict`
 *    would. The overlays render with the test renderer (test/support/kustomize.ts), and equal
 *    `kubectl kustomize` where a kubectl is on PATH.
 * 2. Inside each render every reference resolves: ConfigMaps, Secrets (or the few the README has
 *    the user create), ServiceAccounts, Services' selectors, named ports, volumes.
 * 3. The configs they carry pass their tools: the edge's and the central's prometheus.yml
 *    `promtool check config`, tributary.yml `tributary check-config`, alertmanager.yml
 *    `amtool check-config`; every flag the containers pass exists in that program.
 * 4. What must agree across files agrees: ports, paths, replica counts, body sizes, the Operator
 *    variant's remote write and the plain edge's, the image tag and the package version.
 */
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { unknownFieldErrors, validateObject } from '../support/k8s-models.js';
import { type Container, type K8sObject, containersOf, kustomizationOf, podSpecOf, renderKustomization } from '../support/kustomize.js';
import { startProc, waitForHttp, which } from '../../scripts/lib/procs.js';
import { freePorts } from '../support/ports.js';
import { body, push, series } from '../support/write-env.js';
import { debianToolAvailable, promtool, promtoolAvailable, runTool } from '../support/promtool.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const K8S = join(REPO, 'deploy', 'kubernetes');
const KUSTOMIZATIONS = ['edge/rbac', 'edge/base', 'edge/overlays/prod-eu-1', 'edge/operator', 'tributary', 'central', '../alerts'] as const;
/** Secrets the README has the user create (with kubectl create secret), never generated here. */
const USER_SECRETS = new Set(['tributary-token', 'tributary-admin', 'tributary-backend', 'tributary-tls']);
const CONFIG_FILES = new Set(['prometheus.yml', 'tributary.yml', 'alertmanager.yml']);

const render = new Map(KUSTOMIZATIONS.map((dir) => [dir, renderKustomization(join(K8S, dir))]));
const rendered = (dir: (typeof KUSTOMIZATIONS)[number]): K8sObject[] => render.get(dir) ?? [];

function find(objects: readonly K8sObject[], kind: string, name: string): K8sObject {
  const found = objects.find((o) => o.kind === kind && o.metadata.name === name);
  if (!found) throw new Error(`no ${kind} ${name} in the render`);
  return found;
}
function container(o: K8sObject, name: string): Container {
  const c = containersOf(o).find((x) => x.name === name);
  if (!c) throw new Error(`${o.kind} ${o.metadata.name} has no container ${name}`);
  return c;
}
function mountPathOf(o: K8sObject, c: Container, volumeName: string): string {
  const mount = c.volumeMounts?.find((m) => m.name === volumeName);
  if (!mount) throw new Error(`${o.metadata.name}/${c.name} does not mount ${volumeName}`);
  return mount.mountPath;
}
function volumeOf(o: K8sObject, name: string): Record<string, { name?: string; secretName?: string; optional?: boolean }> {
  const volumes = (podSpecOf(o)?.volumes ?? []) as Array<{ name: string } & Record<string, never>>;
  const v = volumes.find((x) => x.name === name);
  if (!v) throw new Error(`${o.metadata.name} has no volume ${name}`);
  return v;
}
/** The value of `--name=value` among `args`. */
function flag(args: readonly string[] | undefined, name: string): string | undefined {
  const prefix = `--${name}=`;
  return args?.find((a) => a.startsWith(prefix))?.slice(prefix.length);
}
const readYaml = (path: string): Record<string, unknown> => parse(readFileSync(join(K8S, path), 'utf8')) as Record<string, unknown>;
const manifestFiles = (dir: string): string[] =>
  readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.yaml') && !f.endsWith('kustomization.yaml'))
    .sort();
const portOf = (address: string): number => Number(address.slice(address.lastIndexOf(':') + 1));

const tmp = mkdtempSync(join(tmpdir(), 'tributary-k8s-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

// ---- 1. schemas --------------------------------------------------------------------------------

describe('every manifest file', () => {
  const files = manifestFiles(K8S);

  it('there are manifests for the edge, the Operator edge, tributary and the central', () => {
    for (const dir of ['edge/rbac', 'edge/base', 'edge/operator', 'tributary', 'central']) {
      expect(files.some((f) => f.startsWith(`${dir}/`)), dir).toBe(true);
    }
  });

  it.each(files)('%s validates against the API schemas and names its namespace', (file) => {
    const objects = parseAllDocuments(readFileSync(join(K8S, file), 'utf8')).map((d) => d.toJS() as K8sObject);
    expect(objects.length).toBeGreaterThan(0);
    for (const o of objects) {
      validateObject(o, file);
      // Applied with plain `kubectl apply -f`, an object without a namespace would land in "default".
      if (!['Namespace', 'ClusterRole', 'ClusterRoleBinding'].includes(o.kind)) expect(o.metadata.namespace, `${file}: ${o.kind} ${o.metadata.name}`).toBeTruthy();
    }
  });

  it('no manifest has a field the API does not know (what --validate=strict refuses)', () => {
    const objects = files.flatMap((file) => parseAllDocuments(readFileSync(join(K8S, file), 'utf8')).map((d) => ({ where: file, object: d.toJS() as K8sObject })));
    expect(unknownFieldErrors(objects)).toEqual([]);
  });

  it('the strict check does catch a misspelt field and a wrong type', () => {
    const sts = structuredClone(find(rendered('tributary'), 'StatefulSet', 'tributary'));
    const c = containersOf(sts)[0] as Container;
    c.readinessprobe = c.readinessProbe;
    const errors = unknownFieldErrors([{ where: 'misspelt', object: sts }]);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/^misspelt: StatefulSet tributary .*'"?readinessprobe"?' does not exist/);
    const wrongType = structuredClone(sts) as K8sObject & { spec: { replicas: unknown } };
    wrongType.spec.replicas = 'two';
    expect(() => validateObject(wrongType, 'wrong type')).toThrow(/wrong type: StatefulSet tributary: .*replicas must be integer/);
  });
});

describe.each(KUSTOMIZATIONS)('kustomization %s', (dir) => {
  const root = join(K8S, dir);

  it('lists every manifest file beside it, and renders', () => {
    const k = kustomizationOf(root);
    const listed = new Set((k.resources as string[] | undefined) ?? []);
    for (const file of readdirSync(root).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml')) {
      expect(listed.has(file), `${dir}/kustomization.yaml does not list ${file}`).toBe(true);
    }
    for (const file of readdirSync(root).filter((f) => CONFIG_FILES.has(f))) {
      const generated = ((k.configMapGenerator as Array<{ files?: string[] }> | undefined) ?? []).flatMap((g) => g.files ?? []);
      expect(generated, `${dir}/${file} is in no configMapGenerator`).toContain(file);
    }
    expect(rendered(dir).length).toBeGreaterThan(0);
  });

  it('renders objects that validate, strictly', () => {
    const objects = rendered(dir);
    for (const o of objects) validateObject(o, dir);
    expect(unknownFieldErrors(objects.map((object) => ({ where: dir, object })))).toEqual([]);
  });

  it('renders exactly what kubectl kustomize renders (where a kubectl is on PATH)', async (ctx) => {
    const kubectl = which('kubectl');
    if (kubectl === undefined) {
      // Not a Debian package (.ci/run cannot install it): the renderer's output is still checked
      // by every other test here; this one only proves it equal to kustomize's.
      console.warn('SKIPPING the comparison with kubectl kustomize: kubectl is not on PATH');
      ctx.skip();
      return;
    }
    const rendering = await runTool(kubectl, ['kustomize', root]);
    expect(rendering.code, rendering.stderr).toBe(0);
    expect(rendering.stderr).toBe('');
    const key = (o: K8sObject) => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;
    const theirs = parseAllDocuments(rendering.stdout).map((d) => d.toJS() as K8sObject);
    const ours = rendered(dir);
    expect(ours.map(key).sort()).toEqual(theirs.map(key).sort());
    for (const o of ours) {
      const t = theirs.find((x) => key(x) === key(o));
      expect(isDeepStrictEqual(o, t), `${key(o)} differs from kubectl's`).toBe(true);
    }
  });

  // ---- 2. references --------------------------------------------------------------------------

  it('every reference in it resolves', () => {
    const objects = rendered(dir);
    const has = (kind: string, ns: string | undefined, name: string) =>
      objects.some((o) => o.kind === kind && o.metadata.name === name && (ns === undefined || o.metadata.namespace === ns));
    const problems: string[] = [];
    const workloads = objects.filter((o) => podSpecOf(o) !== undefined);
    const podLabels = (o: K8sObject) => ((o.spec as { template: { metadata?: { labels?: Record<string, string> } } }).template.metadata?.labels ?? {});
    const selects = (selector: Record<string, string> | undefined, ns: string | undefined) =>
      workloads.some((w) => w.metadata.namespace === ns && Object.entries(selector ?? {}).every(([k, v]) => podLabels(w)[k] === v));

    for (const w of workloads) {
      const ns = w.metadata.namespace;
      const pod = podSpecOf(w) as { serviceAccountName?: string; volumes?: Array<Record<string, unknown> & { name: string }> };
      const where = `${w.kind} ${w.metadata.name}`;
      if (pod.serviceAccountName && !has('ServiceAccount', ns, pod.serviceAccountName)) problems.push(`${where}: no ServiceAccount ${pod.serviceAccountName}`);
      const volumes = new Set([
        ...(pod.volumes ?? []).map((v) => v.name),
        ...(((w.spec as { volumeClaimTemplates?: Array<{ metadata: { name: string } }> }).volumeClaimTemplates ?? []).map((t) => t.metadata.name)),
      ]);
      for (const v of pod.volumes ?? []) {
        const cm = v.configMap as { name: string } | undefined;
        const secret = v.secret as { secretName: string } | undefined;
        if (cm && !has('ConfigMap', ns, cm.name)) problems.push(`${where}: volume ${v.name}: no ConfigMap ${cm.name}`);
        if (secret && !USER_SECRETS.has(secret.secretName) && !has('Secret', ns, secret.secretName)) problems.push(`${where}: volume ${v.name}: no Secret ${secret.secretName}`);
      }
      for (const c of containersOf(w)) {
        const ports = new Set((c.ports ?? []).map((p) => p.name));
        for (const m of c.volumeMounts ?? []) if (!volumes.has(m.name)) problems.push(`${where}/${c.name}: mounts unknown volume ${m.name}`);
        for (const e of c.env ?? []) {
          const ref = e.valueFrom?.configMapKeyRef;
          if (!ref) continue;
          const cm = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === ref.name && o.metadata.namespace === ns);
          if (!(cm?.data as Record<string, string> | undefined)?.[ref.key]) problems.push(`${where}/${c.name}: env ${e.name}: no key ${ref.key} in ConfigMap ${ref.name}`);
        }
        for (const probe of ['startupProbe', 'readinessProbe', 'livenessProbe']) {
          const port = (c[probe] as { httpGet?: { port: number | string } } | undefined)?.httpGet?.port;
          if (typeof port === 'string' && !ports.has(port)) problems.push(`${where}/${c.name}: ${probe} uses unknown port ${port}`);
        }
      }
      const serviceName = (w.spec as { serviceName?: string }).serviceName;
      if (w.kind === 'StatefulSet') {
        const svc = objects.find((o) => o.kind === 'Service' && o.metadata.name === serviceName && o.metadata.namespace === ns);
        if ((svc?.spec as { clusterIP?: string } | undefined)?.clusterIP !== 'None') problems.push(`${where}: serviceName ${serviceName} is not a headless Service here`);
      }
    }
    for (const o of objects) {
      const ns = o.metadata.namespace;
      const where = `${o.kind} ${o.metadata.name}`;
      const spec = o.spec as Record<string, unknown> | undefined;
      if (o.kind === 'Service') {
        const selector = spec?.selector as Record<string, string>;
        if (!selects(selector, ns)) problems.push(`${where}: its selector matches no pods here`);
        for (const p of (spec?.ports as Array<{ targetPort?: string | number }>) ?? []) {
          const named = typeof p.targetPort === 'string' ? p.targetPort : undefined;
          const served = workloads.some((w) => w.metadata.namespace === ns && containersOf(w).some((c) => (c.ports ?? []).some((cp) => cp.name === named)));
          if (named && !served) problems.push(`${where}: targetPort ${named} is no container's port`);
        }
      }
      const selector = (o.kind === 'PodDisruptionBudget' ? spec?.selector : o.kind === 'NetworkPolicy' ? spec?.podSelector : undefined) as { matchLabels: Record<string, string> } | undefined;
      if (selector && !selects(selector.matchLabels, ns)) problems.push(`${where}: selects no pods`);
      if (o.kind === 'Ingress') {
        for (const rule of (spec?.rules as Array<{ http: { paths: Array<{ backend: { service: { name: string; port: { name?: string } } } }> } }>) ?? []) {
          for (const path of rule.http.paths) {
            const svc = objects.find((x) => x.kind === 'Service' && x.metadata.name === path.backend.service.name && x.metadata.namespace === ns);
            const ports = ((svc?.spec as { ports?: Array<{ name?: string }> } | undefined)?.ports ?? []).map((p) => p.name);
            if (!ports.includes(path.backend.service.port.name)) problems.push(`${where}: no Service ${path.backend.service.name} with port ${path.backend.service.port.name}`);
          }
        }
        for (const tls of (spec?.tls as Array<{ secretName: string }>) ?? []) if (!USER_SECRETS.has(tls.secretName)) problems.push(`${where}: unknown TLS Secret ${tls.secretName}`);
      }
      if (o.kind === 'ClusterRoleBinding') {
        const binding = o as unknown as { roleRef: { name: string }; subjects: Array<{ kind: string; name: string; namespace: string }> };
        if (!has('ClusterRole', undefined, binding.roleRef.name)) problems.push(`${where}: no ClusterRole ${binding.roleRef.name}`);
        for (const s of binding.subjects) if (s.kind === 'ServiceAccount' && !has('ServiceAccount', s.namespace, s.name)) problems.push(`${where}: no ServiceAccount ${s.namespace}/${s.name}`);
      }
      if (o.kind === 'PrometheusAgent') {
        const agent = spec as { serviceAccountName: string; remoteWrite: Array<{ authorization: { credentials: { name: string } } }> };
        if (!has('ServiceAccount', ns, agent.serviceAccountName)) problems.push(`${where}: no ServiceAccount ${agent.serviceAccountName}`);
        for (const rw of agent.remoteWrite) if (!USER_SECRETS.has(rw.authorization.credentials.name)) problems.push(`${where}: unknown Secret ${rw.authorization.credentials.name}`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('runs every container as non-root, unprivileged, on a read-only root, with a pinned image', () => {
    const problems: string[] = [];
    for (const w of rendered(dir)) {
      const pod = (w.kind === 'PrometheusAgent' ? w.spec : podSpecOf(w)) as { securityContext?: { runAsNonRoot?: boolean; runAsUser?: number } } | undefined;
      if (!pod) continue;
      if (pod.securityContext?.runAsNonRoot !== true || !Number.isInteger(pod.securityContext.runAsUser) || pod.securityContext.runAsUser === 0) {
        problems.push(`${w.kind} ${w.metadata.name}: pod securityContext must set runAsNonRoot and a numeric non-root runAsUser`);
      }
      for (const c of w.kind === 'PrometheusAgent' ? [] : containersOf(w)) {
        const sc = c.securityContext as { allowPrivilegeEscalation?: boolean; readOnlyRootFilesystem?: boolean; capabilities?: { drop?: string[] } } | undefined;
        if (sc?.allowPrivilegeEscalation !== false || sc.readOnlyRootFilesystem !== true || !sc.capabilities?.drop?.includes('ALL')) {
          problems.push(`${w.metadata.name}/${c.name}: needs allowPrivilegeEscalation false, readOnlyRootFilesystem true, capabilities.drop [ALL]`);
        }
        if (!/:[\w.-]+$/.test(c.image) || c.image.endsWith(':latest')) problems.push(`${w.metadata.name}/${c.name}: image ${c.image} is not pinned to a version`);
        if (!(c.resources as { requests?: unknown } | undefined)?.requests) problems.push(`${w.metadata.name}/${c.name}: no resource requests`);
      }
    }
    expect(problems).toEqual([]);
  });
});

// ---- 3. the configs they carry -------------------------------------------------------------------

const EDGE_YML = 'edge/base/prometheus.yml';
const CENTRAL_YML = 'central/prometheus.yml';
const TRIBUTARY_YML = 'tributary/tributary.yml';
/** Kubernetes service discovery as Prometheus 2.42 reads it: the roles and the keys it accepts. */
const K8S_SD_ROLES = new Set(['node', 'service', 'pod', 'endpoints', 'endpointslice', 'ingress']);
const K8S_SD_KEYS = new Set(['role', 'api_server', 'kubeconfig_file', 'namespaces', 'selectors', 'attach_metadata', 'authorization', 'basic_auth', 'oauth2', 'tls_config', 'proxy_url', 'follow_redirects', 'enable_http2']);

interface ScrapeConfig {
  job_name: string;
  kubernetes_sd_configs?: Array<Record<string, unknown>>;
  static_configs?: Array<{ targets: string[] }>;
  relabel_configs?: Array<Record<string, unknown>>;
  [key: string]: unknown;
}

/**
 * Debian builds Prometheus 2.42 without Kubernetes service discovery (only static, file and DNS
 * among what these files use), so its promtool refuses `kubernetes_sd_configs` as an unknown
 * field. This checks those blocks against the keys and roles Prometheus 2.42 accepts and swaps
 * each for a static target, so that promtool checks everything else as it stands: relabel rules,
 * TLS and auth blocks, remote write and queue settings.
 */
function withoutKubernetesSd(config: { scrape_configs?: ScrapeConfig[] }, where: string): { config: unknown; problems: string[] } {
  const problems: string[] = [];
  const copy = structuredClone(config);
  for (const job of copy.scrape_configs ?? []) {
    if (!job.kubernetes_sd_configs) continue;
    for (const sd of job.kubernetes_sd_configs) {
      if (!K8S_SD_ROLES.has(String(sd.role))) problems.push(`${where}: job ${job.job_name}: kubernetes_sd_configs role ${String(sd.role)}`);
      for (const key of Object.keys(sd)) if (!K8S_SD_KEYS.has(key)) problems.push(`${where}: job ${job.job_name}: kubernetes_sd_configs has unknown key ${key}`);
    }
    delete job.kubernetes_sd_configs;
    job.static_configs = [...(job.static_configs ?? []), { targets: ['kubernetes-sd.invalid:443'] }];
  }
  return { config: copy, problems };
}

async function promtoolCheckConfig(file: string): Promise<void> {
  const { config, problems } = withoutKubernetesSd(readYaml(file), file);
  expect(problems).toEqual([]);
  const copy = join(tmp, file.replaceAll('/', '_'));
  writeFileSync(copy, stringify(config));
  // --syntax-only: the files the config names (token, CA, rules) exist only inside the pod.
  const result = await promtool(['check', 'config', '--syntax-only', copy]);
  expect(result.stdout + result.stderr).toContain('SUCCESS');
  expect(result.code, result.stdout + result.stderr).toBe(0);
}

describe('the edge', () => {
  const edge = readYaml(EDGE_YML) as {
    global: { scrape_interval: string; scrape_timeout: string; external_labels: Record<string, string> };
    remote_write: Array<
      Record<string, unknown> & { url: string; authorization: { credentials_file: string }; queue_config: Record<string, unknown>; metadata_config: Record<string, unknown> }
    >;
    scrape_configs: ScrapeConfig[];
  };
  const agent = find(rendered('edge/overlays/prod-eu-1'), 'StatefulSet', 'prometheus-agent');
  const prometheus = container(agent, 'prometheus');
  const tributaryConfig = readYaml(TRIBUTARY_YML) as { replicas: number; limits: { max_samples_per_request: number } };

  const hasPromtool = promtoolAvailable('the edge prometheus.yml checks');

  it.skipIf(!hasPromtool)('prometheus.yml passes promtool check config', () => promtoolCheckConfig(EDGE_YML));

  it.skipIf(!hasPromtool)('the promtool check sees the rest of the file: a broken relabel rule fails it', async () => {
    const broken = structuredClone(edge);
    broken.scrape_configs[1]?.relabel_configs?.push({ action: 'keep', regex: '(' });
    const { config } = withoutKubernetesSd(broken, 'broken');
    const copy = join(tmp, 'broken-edge.yml');
    writeFileSync(copy, stringify(config));
    const result = await promtool(['check', 'config', '--syntax-only', copy]);
    expect(result.code).not.toBe(0);
    expect(result.stdout + result.stderr).toMatch(/missing closing \)/);
  });

  it('scrapes node_exporter, the kubelet and cAdvisor (directly and through the apiserver), apiservers, kube-state-metrics, annotated pods and services', () => {
    expect(edge.scrape_configs.map((j) => j.job_name)).toEqual([
      'prometheus-agent',
      'kubernetes-apiservers',
      'kubelet',
      'cadvisor',
      'kubelet-via-apiserver',
      'cadvisor-via-apiserver',
      'node-exporter',
      'kube-state-metrics',
      'kubernetes-pods',
      'kubernetes-service-endpoints',
    ]);
    const text = readFileSync(join(K8S, EDGE_YML), 'utf8');
    for (const annotation of ['scrape', 'path', 'port', 'scheme']) {
      expect(text).toContain(`__meta_kubernetes_pod_annotation_prometheus_io_${annotation}`);
      expect(text).toContain(`__meta_kubernetes_service_annotation_prometheus_io_${annotation}`);
    }
    expect(text).toContain('/api/v1/nodes/$1/proxy/metrics/cadvisor');
  });

  it('each node is scraped one way only: the direct jobs drop exactly the nodes the proxy jobs keep', () => {
    const switchRule = (job: string) => edge.scrape_configs.find((j) => j.job_name === job)?.relabel_configs?.[0];
    for (const [direct, viaProxy] of [
      ['kubelet', 'kubelet-via-apiserver'],
      ['cadvisor', 'cadvisor-via-apiserver'],
    ] as const) {
      const d = switchRule(direct);
      const p = switchRule(viaProxy);
      expect(d?.action).toBe('drop');
      expect(p?.action).toBe('keep');
      expect({ ...d, action: undefined }).toEqual({ ...p, action: undefined });
    }
  });

  it('names its cluster from the overlay: external_labels take CLUSTER from the edge-cluster ConfigMap', () => {
    expect(edge.global.external_labels).toEqual({ cluster: '${CLUSTER}' });
    expect(flag(prometheus.args, 'enable-feature')?.split(',').sort()).toEqual(['agent', 'expand-external-labels']);
    const env = prometheus.env?.find((e) => e.name === 'CLUSTER')?.valueFrom?.configMapKeyRef;
    const overlayCm = find(rendered('edge/overlays/prod-eu-1'), 'ConfigMap', env?.name ?? '');
    expect(overlayCm.data).toEqual({ cluster: 'prod-eu-1' });
    const baseAgent = find(rendered('edge/base'), 'StatefulSet', 'prometheus-agent');
    const baseEnv = container(baseAgent, 'prometheus').env?.find((e) => e.name === 'CLUSTER')?.valueFrom?.configMapKeyRef;
    expect(find(rendered('edge/base'), 'ConfigMap', baseEnv?.name ?? '').data).toEqual({ cluster: 'change-me' });
  });

  it('reads the config and the token where the pod mounts them', () => {
    const configFile = flag(prometheus.args, 'config.file') ?? '';
    expect(dirname(configFile)).toBe(mountPathOf(agent, prometheus, 'config'));
    const cm = find(rendered('edge/overlays/prod-eu-1'), 'ConfigMap', volumeOf(agent, 'config').configMap?.name ?? '');
    expect(cm.data).toEqual({ 'prometheus.yml': readFileSync(join(K8S, EDGE_YML), 'utf8') });
    const tokenFile = edge.remote_write[0]?.authorization.credentials_file ?? '';
    expect(dirname(tokenFile)).toBe(mountPathOf(agent, prometheus, 'tributary-token'));
    expect(volumeOf(agent, 'tributary-token').secret?.secretName).toBe('tributary-token');
    expect(flag(prometheus.args, 'storage.agent.path')).toBe(mountPathOf(agent, prometheus, 'wal'));
  });

  it("remote-writes in batches tributary's limits take, on at least as many connections as it has replicas", () => {
    const queue = edge.remote_write[0]?.queue_config as Record<string, number | string | boolean>;
    expect(edge.remote_write).toHaveLength(1);
    expect(edge.remote_write[0]?.url).toMatch(/^https:\/\/.+\/api\/v1\/write$/);
    expect(queue.max_samples_per_send).toBeLessThanOrEqual(tributaryConfig.limits.max_samples_per_request);
    expect(queue.min_shards).toBeGreaterThanOrEqual(tributaryConfig.replicas);
    expect(queue.max_shards).toBeGreaterThan(queue.min_shards as number);
    expect(queue.capacity).toBeGreaterThanOrEqual(queue.max_samples_per_send as number);
    expect(queue.retry_on_http_429).toBe(true);
  });

  it('the Operator variant remote-writes exactly as the plain edge does', () => {
    const pa = find(rendered('edge/operator'), 'PrometheusAgent', 'tributary-edge').spec as {
      version: string;
      scrapeInterval: string;
      scrapeTimeout: string;
      externalLabels: Record<string, string>;
      remoteWrite: Array<Record<string, unknown> & { queueConfig: Record<string, unknown>; metadataConfig: Record<string, unknown> }>;
    };
    const camel = (o: Record<string, unknown>) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k.replace(/_(\w)/g, (_, c: string) => c.toUpperCase()), v]));
    const plain = edge.remote_write[0];
    if (!plain) throw new Error(`${EDGE_YML} has no remote_write`);
    const rw = pa.remoteWrite[0];
    expect(pa.remoteWrite).toHaveLength(1);
    expect({ url: rw?.url, name: rw?.name, remoteTimeout: rw?.remoteTimeout }).toEqual({ url: plain.url, name: plain.name, remoteTimeout: plain.remote_timeout });
    // The Operator calls retry_on_http_429 retryOnRateLimit.
    const { retry_on_http_429, ...queue } = plain.queue_config;
    expect(rw?.queueConfig).toEqual({ ...camel(queue), retryOnRateLimit: retry_on_http_429 });
    expect(rw?.metadataConfig).toEqual(camel(plain.metadata_config));
    expect({ scrapeInterval: pa.scrapeInterval, scrapeTimeout: pa.scrapeTimeout }).toEqual({ scrapeInterval: edge.global.scrape_interval, scrapeTimeout: edge.global.scrape_timeout });
    expect(Object.keys(pa.externalLabels)).toEqual(['cluster']);
    expect(`quay.io/prometheus/prometheus:${pa.version}`).toBe(prometheus.image);
  });
});

describe('tributary', () => {
  const objects = rendered('tributary');
  const sts = find(objects, 'StatefulSet', 'tributary');
  const c = container(sts, 'tributary');
  const config = readYaml(TRIBUTARY_YML) as {
    server: { listen_address: string; max_body_bytes: string; shutdown_timeout: string };
    data_dir: string;
    replicas: number;
    admin: { token_file: string };
    backends: Array<{ url: string; accepts_native_histograms: boolean }>;
  };

  it('tributary.yml passes tributary check-config', async () => {
    const result = await runTool(process.execPath, [join(REPO, 'dist', 'src', 'main.js'), 'check-config', join(K8S, TRIBUTARY_YML)]);
    expect(result.stderr).toBe('');
    expect(result.stdout).toMatch(/: OK \(1 backend\(s\): central;/);
    expect(result.code).toBe(0);
  });

  it('runs the config, port, volume and replica count its manifests give it', () => {
    const configArg = c.args?.[c.args.indexOf('--config') + 1] ?? '';
    expect(c.args?.[0]).toBe('serve');
    expect(dirname(configArg)).toBe(mountPathOf(sts, c, 'config'));
    const cm = find(objects, 'ConfigMap', volumeOf(sts, 'config').configMap?.name ?? '');
    expect(cm.data).toEqual({ [posix.basename(configArg)]: readFileSync(join(K8S, TRIBUTARY_YML), 'utf8') });
    expect(c.ports).toEqual([{ name: 'http', containerPort: portOf(config.server.listen_address) }]);
    expect(config.server.listen_address.startsWith('0.0.0.0:')).toBe(true);
    expect(config.data_dir).toBe(mountPathOf(sts, c, 'data'));
    expect(dirname(config.admin.token_file)).toBe(mountPathOf(sts, c, 'admin-token'));
    expect(volumeOf(sts, 'admin-token').secret?.secretName).toBe('tributary-admin');
    expect(volumeOf(sts, 'backend-credentials').secret).toEqual({ secretName: 'tributary-backend', optional: true });
    expect((sts.spec as { replicas: number }).replicas).toBe(config.replicas);
    expect(config.replicas).toBeGreaterThanOrEqual(2);
    const grace = (podSpecOf(sts) as { terminationGracePeriodSeconds: number }).terminationGracePeriodSeconds;
    expect(Number.parseInt(config.server.shutdown_timeout, 10)).toBeLessThan(grace);
  });

  it('serves with this config as the pod runs it: probes, a token from `token generate`, the admin API', async () => {
    // The pod's paths, moved under a temporary directory; everything else as in tributary.yml.
    const dir = mkdtempSync(join(tmp, 'pod-'));
    const main = join(REPO, 'dist', 'src', 'main.js');
    const generated = await runTool(process.execPath, [main, 'token', 'generate', '--tenant', 'team-a', '--cluster', 'prod-eu-1', '--token-file', join(dir, 'edge.token')]);
    expect(generated.code, generated.stderr).toBe(0);
    writeFileSync(join(dir, 'admin.token'), 'admin-secret\n');
    const [port, closedPort] = await freePorts(2);
    const podConfig = parse(readFileSync(join(K8S, TRIBUTARY_YML), 'utf8')) as Record<string, unknown> & { server: Record<string, unknown>; backends: Array<Record<string, unknown>> };
    podConfig.server.listen_address = `127.0.0.1:${port}`;
    podConfig.data_dir = join(dir, 'data');
    podConfig.admin = { token_file: join(dir, 'admin.token') };
    podConfig.tokens = parse(generated.stdout);
    // No central Prometheus here: writes are acknowledged once queued, and wait for it.
    (podConfig.backends[0] as Record<string, unknown>).url = `http://127.0.0.1:${closedPort}/api/v1/write`;
    writeFileSync(join(dir, 'tributary.yml'), stringify(podConfig));
    const proc = startProc('tributary', process.execPath, [main, 'serve', '--config', join(dir, 'tributary.yml')], join(dir, 'tributary.log'));
    try {
      const url = `http://127.0.0.1:${port}`;
      await waitForHttp(`${url}/-/ready`, proc);
      for (const probe of ['/-/healthy', '/-/ready']) expect((await fetch(url + probe)).status, probe).toBe(200);
      const token = readFileSync(join(dir, 'edge.token'), 'utf8').trim();
      const write = await push(url, body([series({ __name__: 'up', cluster: 'prod-eu-1' }, [[1, Date.now()]])]), token);
      expect(write.status, write.text).toBe(204);
      const otherCluster = await push(url, body([series({ __name__: 'up', cluster: 'prod-us-1' }, [[1, Date.now()]])]), token);
      expect(otherCluster.status).toBe(400);
      const admin = await fetch(`${url}/admin/v1/tenants`, { headers: { authorization: 'Bearer admin-secret' } });
      expect(admin.status).toBe(200);
    } finally {
      await proc.stop();
    }
  });

  it('probes /-/healthy and /-/ready, and one eviction at a time leaves a replica serving', () => {
    const path = (probe: string) => (c[probe] as { httpGet: { path: string } }).httpGet.path;
    expect([path('startupProbe'), path('livenessProbe'), path('readinessProbe')]).toEqual(['/-/healthy', '/-/healthy', '/-/ready']);
    expect((find(objects, 'PodDisruptionBudget', 'tributary').spec as { minAvailable: number }).minAvailable).toBe(1);
  });

  it('lets in only the ingress controller and the central Prometheus, and publishes only the write path', () => {
    const policy = find(objects, 'NetworkPolicy', 'tributary').spec as { policyTypes: string[]; ingress: Array<{ from: Array<{ namespaceSelector: { matchLabels: Record<string, string> }; podSelector: { matchLabels: Record<string, string> } }> }> };
    expect(policy.policyTypes).toEqual(['Ingress']);
    const central = find(rendered('central'), 'StatefulSet', 'prometheus');
    const peers = policy.ingress.flatMap((rule) => rule.from.map((f) => `${f.namespaceSelector.matchLabels['kubernetes.io/metadata.name']}/${f.podSelector.matchLabels['app.kubernetes.io/name']}`));
    expect(peers).toEqual(['ingress-nginx/ingress-nginx', `${central.metadata.namespace}/${(central.metadata.labels as Record<string, string>)['app.kubernetes.io/name']}`]);
    const ingress = find(objects, 'Ingress', 'tributary') as K8sObject & { spec: { rules: Array<{ http: { paths: Array<{ path: string; pathType: string }> } }> } };
    expect(ingress.spec.rules.flatMap((r) => r.http.paths.map((p) => `${p.pathType} ${p.path}`))).toEqual(['Exact /api/v1/write']);
    expect(ingress.metadata.annotations).toHaveProperty(['cert-manager.io/cluster-issuer']);
  });

  it("the Ingress lets through the bodies tributary takes (so an edge gets tributary's 413, not nginx's)", () => {
    const ingress = find(objects, 'Ingress', 'tributary');
    const nginx = (ingress.metadata.annotations as Record<string, string>)['nginx.ingress.kubernetes.io/proxy-body-size'] ?? '';
    const mib = /^(\d+)m$/.exec(nginx)?.[1];
    expect(`${mib}MiB`).toBe(config.server.max_body_bytes);
  });

  it('its image is this version, run as the Dockerfile user', () => {
    const version = (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string }).version;
    expect(c.image).toBe(`ghcr.io/tributary/tributary:${version}`);
    const dockerfile = readFileSync(join(REPO, 'Dockerfile'), 'utf8');
    const user = [...dockerfile.matchAll(/^USER (\d+):(\d+)$/gm)].at(-1);
    const pod = (podSpecOf(sts) as { securityContext: { runAsUser: number; runAsGroup: number } }).securityContext;
    expect([Number(user?.[1]), Number(user?.[2])]).toEqual([pod.runAsUser, pod.runAsGroup]);
  });

  it('forwards to the central Prometheus Service, which takes native histograms as the backend says', () => {
    const svc = find(rendered('central'), 'Service', 'prometheus');
    const port = (svc.spec as { ports: Array<{ port: number }> }).ports[0]?.port;
    expect(config.backends.map((b) => b.url)).toEqual([`http://${svc.metadata.name}.${svc.metadata.namespace}.svc:${port}/api/v1/write`]);
    const central = container(find(rendered('central'), 'StatefulSet', 'prometheus'), 'prometheus');
    expect(central.args).toContain('--web.enable-remote-write-receiver');
    expect(flag(central.args, 'enable-feature')?.split(',').includes('native-histograms')).toBe(config.backends[0]?.accepts_native_histograms);
  });
});

describe('the central Prometheus', () => {
  const objects = rendered('central');
  const sts = find(objects, 'StatefulSet', 'prometheus');
  const c = container(sts, 'prometheus');
  const central = readYaml(CENTRAL_YML) as {
    storage: { tsdb: { out_of_order_time_window: string } };
    rule_files: string[];
    alerting: { alertmanagers: Array<{ static_configs: Array<{ targets: string[] }> }> };
    scrape_configs: Array<ScrapeConfig & { dns_sd_configs?: Array<{ names: string[]; type: string; port: number }> }>;
  };

  it.skipIf(!promtoolAvailable('the central prometheus.yml check'))('prometheus.yml passes promtool check config', () => promtoolCheckConfig(CENTRAL_YML));

  it("scrapes every tributary replica as job=\"tributary\", the job tributary's alerts watch", () => {
    const job = central.scrape_configs.find((j) => j.job_name === 'tributary');
    const headless = find(rendered('tributary'), 'Service', 'tributary-headless');
    const tributaryPort = container(find(rendered('tributary'), 'StatefulSet', 'tributary'), 'tributary').ports?.[0]?.containerPort;
    expect(job?.dns_sd_configs).toEqual([{ names: [`${headless.metadata.name}.${headless.metadata.namespace}.svc.cluster.local`], type: 'A', port: tributaryPort }]);
    expect((headless.spec as { publishNotReadyAddresses: boolean }).publishNotReadyAddresses).toBe(true);
    expect(readFileSync(join(REPO, 'deploy', 'alerts', 'tributary.yml'), 'utf8')).toContain('job="tributary"');
  });

  it("loads tributary's alert rules and sends alerts to the Alertmanager Service", () => {
    expect(central.rule_files).toHaveLength(1);
    expect(dirname(central.rule_files[0] ?? '')).toBe(mountPathOf(sts, c, 'rules'));
    const rules = find(objects, 'ConfigMap', volumeOf(sts, 'rules').configMap?.name ?? '');
    expect(rules.metadata.name).toMatch(/^tributary-alerts-/);
    expect(rules.data).toEqual({ 'tributary.yml': readFileSync(join(REPO, 'deploy', 'alerts', 'tributary.yml'), 'utf8') });
    const am = find(objects, 'Service', 'alertmanager');
    const amPort = (am.spec as { ports: Array<{ port: number }> }).ports[0]?.port;
    expect(central.alerting.alertmanagers.flatMap((a) => a.static_configs.flatMap((s) => s.targets))).toEqual([`${am.metadata.name}.${am.metadata.namespace}.svc:${amPort}`]);
    expect(flag(c.args, 'config.file')).toBe(`${mountPathOf(sts, c, 'config')}/prometheus.yml`);
  });

  it('takes out-of-order samples within a window (a series can move between tributary replicas)', () => {
    expect(central.storage.tsdb.out_of_order_time_window).toMatch(/^\d+m$/);
  });

  it.skipIf(!debianToolAvailable('/usr/bin/amtool', 'prometheus-alertmanager', 'the alertmanager.yml check'))('alertmanager.yml passes amtool check-config', async () => {
    const result = await runTool('/usr/bin/amtool', ['check-config', join(K8S, 'central', 'alertmanager.yml')]);
    expect(result.stdout).toContain('SUCCESS');
    expect(result.code, result.stdout + result.stderr).toBe(0);
  });
});

// ---- 4. flags --------------------------------------------------------------------------------------

/** Each image's program as Debian ships it, to ask for its flags. */
const PROGRAMS: ReadonlyArray<{ image: RegExp; binary: string; debianPackage: string }> = [
  { image: /^quay\.io\/prometheus\/prometheus:/, binary: '/usr/bin/prometheus', debianPackage: 'prometheus' },
  { image: /^quay\.io\/prometheus\/node-exporter:/, binary: '/usr/bin/prometheus-node-exporter', debianPackage: 'prometheus-node-exporter' },
  { image: /^quay\.io\/prometheus\/alertmanager:/, binary: '/usr/bin/prometheus-alertmanager', debianPackage: 'prometheus-alertmanager' },
];

describe.each(PROGRAMS)('flags of $binary', ({ image, binary, debianPackage }) => {
  const containers = [...render.values()].flat().flatMap((o) => containersOf(o)).filter((c) => image.test(c.image));

  it.skipIf(!debianToolAvailable(binary, debianPackage, `the flags check of ${binary}`))('every flag the manifests pass exists', async () => {
    expect(containers.length).toBeGreaterThan(0);
    const help = await runTool(binary, ['--help']);
    const known = new Set([...(help.stdout + help.stderr).matchAll(/--(?:\[no-\])?([a-z0-9][a-z0-9.-]*)/g)].map((m) => m[1]));
    const unknown = containers.flatMap((c) => (c.args ?? []).map((a) => /^--([a-z0-9][a-z0-9.-]*)/.exec(a)?.[1] ?? a).filter((name) => !known.has(name)));
    expect(known.size).toBeGreaterThan(10);
    expect(unknown).toEqual([]);
  });
});

describe('the Dockerfile', () => {
  const dockerfile = readFileSync(join(REPO, 'Dockerfile'), 'utf8');
  const stages = dockerfile.split(/^FROM /m).slice(1);

  it('builds in one stage and runs production dependencies only, as non-root, on the Node LTS, in another', () => {
    expect(stages).toHaveLength(2);
    const [build, final] = stages as [string, string];
    expect(build).toMatch(/npm prune --omit=dev/);
    expect(final).toMatch(/^node:(\d*[02468])-bookworm-slim\n/);
    expect(final).toMatch(/COPY --from=build \/app\/node_modules/);
    expect(final).not.toMatch(/npm (ci|install)/);
    expect(final).toMatch(/^USER [1-9]\d*:[1-9]\d*$/m);
  });

  it('checks the native addons after npm ci, and the check passes on this build', async () => {
    const build = stages[0] ?? '';
    expect(build.indexOf('RUN node dist/scripts/check-native-addons.js')).toBeGreaterThan(build.indexOf('npm ci'));
    const check = await runTool(process.execPath, [join(REPO, 'dist', 'scripts', 'check-native-addons.js')]);
    expect(check.stdout).toMatch(/^native addons ok: better-sqlite3 survived 250000 statements collected by the GC, re2 matches/);
    expect(check.code, check.stderr).toBe(0);
  });
});

describe('the README\'s "Deploy to Kubernetes"', () => {
  const readme = readFileSync(join(REPO, 'README.md'), 'utf8');
  const start = readme.indexOf('## Deploy to Kubernetes');
  const section = readme.slice(start, readme.indexOf('\n## ', start + 1));

  it('names only paths that exist, and applies only kustomizations the tests render', () => {
    expect(start).toBeGreaterThan(0);
    const paths = [...section.matchAll(/deploy\/kubernetes\/[\w./-]*\w/g)].map((m) => m[0]);
    expect(paths.length).toBeGreaterThan(5);
    for (const path of paths) expect(existsSync(join(REPO, path)), path).toBe(true);
    const applied = [...section.matchAll(/kubectl apply -k (\S+)/g)].map((m) => m[1]);
    expect(applied).toEqual(['deploy/kubernetes/central', 'deploy/kubernetes/tributary', 'deploy/kubernetes/edge/overlays/prod-eu-1']);
    for (const dir of applied) expect(KUSTOMIZATIONS.map((k) => `deploy/kubernetes/${k}`)).toContain(dir);
  });

  it('creates the Secrets the pods mount, under the keys their configs read', () => {
    const created = Object.fromEntries([...section.matchAll(/create secret generic (\S+) --from-file=(\w+)=/g)].map((m) => [m[1], m[2]]));
    const edge = readYaml(EDGE_YML) as { remote_write: Array<{ authorization: { credentials_file: string } }> };
    const tributary = readYaml(TRIBUTARY_YML) as { admin: { token_file: string } };
    expect(created).toEqual({
      'tributary-admin': posix.basename(tributary.admin.token_file),
      'tributary-token': posix.basename(edge.remote_write[0]?.authorization.credentials_file ?? ''),
    });
  });
});
