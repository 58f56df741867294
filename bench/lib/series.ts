/**
 * Realistic, seeded series for the ingestion bench: a fleet of Kubernetes nodes, each scraped by
 * node_exporter, with pods seen by cAdvisor (kubelet) and by kube-state-metrics, with the target
 * labels a kube-prometheus setup attaches. Every series carries `job`, `instance` and `cluster`,
 * 9 to 12 labels counting `__name__`, sorted by name as Prometheus sends them. The same options
 * always give the same series.
 */
import { Rng } from './rng.js';

export interface Label {
  readonly name: string;
  readonly value: string;
}

export type SeriesKind = 'counter' | 'gauge';

export interface Series {
  /** Sorted by name (byte order), `__name__` first. */
  readonly labels: readonly Label[];
  readonly kind: SeriesKind;
  /** The value of the first sample. */
  readonly base: number;
  /** The change per scrape (counters only grow). */
  readonly step: number;
}

export interface SeriesOptions {
  readonly count: number;
  /** The value of the `cluster` label (the one the bench token allows). */
  readonly cluster: string;
  readonly seed?: number;
}

export const DEFAULT_SEED = 20240611;

/** The characters Kubernetes uses for generated name suffixes. */
const K8S_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

const CPU_MODES = ['idle', 'iowait', 'irq', 'nice', 'softirq', 'steal', 'system', 'user'] as const;

const MOUNTS = [
  { device: '/dev/nvme0n1p1', fstype: 'xfs', mountpoint: '/' },
  { device: '/dev/nvme0n1p128', fstype: 'vfat', mountpoint: '/boot/efi' },
  { device: '/dev/nvme1n1', fstype: 'ext4', mountpoint: '/var/lib/containerd' },
  { device: 'tmpfs', fstype: 'tmpfs', mountpoint: '/run' },
  { device: 'tmpfs', fstype: 'tmpfs', mountpoint: '/run/credentials/systemd-resolved.service' },
] as const;

const FS_METRICS = [
  ['node_filesystem_avail_bytes', 'gauge'],
  ['node_filesystem_size_bytes', 'gauge'],
  ['node_filesystem_free_bytes', 'gauge'],
  ['node_filesystem_files', 'gauge'],
  ['node_filesystem_files_free', 'gauge'],
  ['node_filesystem_readonly', 'gauge'],
  ['node_filesystem_device_error', 'gauge'],
] as const;

const NET_METRICS = [
  'node_network_receive_bytes_total',
  'node_network_transmit_bytes_total',
  'node_network_receive_packets_total',
  'node_network_transmit_packets_total',
  'node_network_receive_errs_total',
  'node_network_transmit_errs_total',
  'node_network_receive_drop_total',
  'node_network_transmit_drop_total',
] as const;

const CADVISOR_METRICS = [
  ['container_cpu_usage_seconds_total', 'counter', true],
  ['container_cpu_cfs_throttled_seconds_total', 'counter', true],
  ['container_memory_working_set_bytes', 'gauge', false],
  ['container_memory_rss', 'gauge', false],
  ['container_memory_cache', 'gauge', false],
] as const;

const POD_PHASES = ['Pending', 'Running', 'Succeeded', 'Failed', 'Unknown'] as const;
const READY_CONDITIONS = ['true', 'false', 'unknown'] as const;

const WORKLOADS: readonly { namespace: string; name: string; image: string; sidecars?: readonly string[] }[] = [
  { namespace: 'kube-system', name: 'coredns', image: 'registry.k8s.io/coredns/coredns:v1.11.1' },
  { namespace: 'kube-system', name: 'ebs-csi-controller', image: 'public.ecr.aws/ebs-csi-driver/aws-ebs-csi-driver:v1.25.0', sidecars: ['csi-provisioner', 'liveness-probe'] },
  { namespace: 'ingress-nginx', name: 'ingress-nginx-controller', image: 'registry.k8s.io/ingress-nginx/controller:v1.9.4' },
  { namespace: 'cert-manager', name: 'cert-manager-webhook', image: 'quay.io/jetstack/cert-manager-webhook:v1.13.2' },
  { namespace: 'monitoring', name: 'grafana', image: 'docker.io/grafana/grafana:10.2.2', sidecars: ['grafana-sc-dashboard'] },
  { namespace: 'logging', name: 'loki-ingester', image: 'docker.io/grafana/loki:2.9.3' },
  { namespace: 'checkout', name: 'checkout-api', image: '123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop/checkout-api:2024.06.11-8f3c2d1', sidecars: ['istio-proxy'] },
  { namespace: 'checkout', name: 'payments-worker', image: '123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop/payments-worker:2024.06.03-41b9e7a', sidecars: ['istio-proxy'] },
  { namespace: 'catalog', name: 'catalog-search', image: '123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop/catalog-search:1.42.7', sidecars: ['istio-proxy', 'log-shipper'] },
  { namespace: 'catalog', name: 'recommendations', image: '123456789012.dkr.ecr.eu-west-1.amazonaws.com/ml/recommendations:0.19.0-cuda12', sidecars: ['istio-proxy'] },
  { namespace: 'identity', name: 'keycloak', image: 'quay.io/keycloak/keycloak:23.0.1' },
  { namespace: 'data', name: 'kafka-broker', image: 'quay.io/strimzi/kafka:0.38.0-kafka-3.6.0' },
  { namespace: 'data', name: 'redis-cache', image: 'docker.io/bitnami/redis:7.2.3-debian-11-r2', sidecars: ['metrics'] },
];

const SIDECAR_IMAGES: Readonly<Record<string, string>> = {
  'istio-proxy': 'docker.io/istio/proxyv2:1.20.1',
  'log-shipper': 'cr.fluentbit.io/fluent/fluent-bit:2.2.0',
  'csi-provisioner': 'public.ecr.aws/eks-distro/kubernetes-csi/external-provisioner:v3.6.2-eks-1-28-11',
  'liveness-probe': 'public.ecr.aws/eks-distro/kubernetes-csi/livenessprobe:v2.11.0-eks-1-28-11',
  'grafana-sc-dashboard': 'quay.io/kiwigrid/k8s-sidecar:1.25.2',
  metrics: 'docker.io/bitnami/redis-exporter:1.55.0-debian-11-r3',
};

/** Byte-order comparison, as Go's sort.Strings (and so Prometheus) orders label names. */
function byName(a: Label, b: Label): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

class Collector {
  readonly out: Series[] = [];

  constructor(
    readonly count: number,
    readonly cluster: string,
    readonly rng: Rng,
  ) {}

  get full(): boolean {
    return this.out.length >= this.count;
  }

  add(name: string, kind: SeriesKind, labels: Readonly<Record<string, string>>): void {
    if (this.full) return;
    const list: Label[] = [{ name: '__name__', value: name }, { name: 'cluster', value: this.cluster }];
    for (const [k, v] of Object.entries(labels)) list.push({ name: k, value: v });
    list.sort(byName);
    const rng = this.rng;
    const base = kind === 'counter' ? Math.round(rng.next() * 1e9) / 100 : Math.round(rng.next() * 1e8) / 10;
    const step = kind === 'counter' ? Math.round(rng.next() * 1e5) / 100 : rng.next() < 0.5 ? 0 : Math.round((rng.next() - 0.5) * 1e4) / 10;
    this.out.push({ labels: list, kind, base, step });
  }
}

interface Pod {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
  readonly containers: readonly { name: string; image: string; id: string }[];
}

function makePod(rng: Rng): Pod {
  const w = rng.pick(WORKLOADS);
  const name = `${w.name}-${rng.chars(K8S_ALPHABET, 10)}-${rng.chars(K8S_ALPHABET, 5)}`;
  const containers = [{ name: w.name, image: w.image, id: rng.hex(64) }];
  for (const s of w.sidecars ?? []) containers.push({ name: s, image: SIDECAR_IMAGES[s] ?? 'docker.io/library/busybox:1.36', id: rng.hex(64) });
  return { namespace: w.namespace, name, uid: rng.uuid(), containers };
}

function nodeExporter(c: Collector, rng: Rng, ip: string, pods: readonly Pod[]): void {
  const target = {
    container: 'node-exporter',
    endpoint: 'http-metrics',
    instance: `${ip}:9100`,
    job: 'node-exporter',
    namespace: 'monitoring',
    pod: `node-exporter-${rng.chars(K8S_ALPHABET, 5)}`,
    service: 'node-exporter',
  };
  const cpus = rng.pick([4, 8, 8, 16]);
  for (let cpu = 0; cpu < cpus; cpu++) {
    for (const mode of CPU_MODES) c.add('node_cpu_seconds_total', 'counter', { ...target, cpu: String(cpu), mode });
  }
  for (const m of MOUNTS) {
    for (const [metric, kind] of FS_METRICS) c.add(metric, kind, { ...target, device: m.device, fstype: m.fstype, mountpoint: m.mountpoint });
  }
  const devices = ['lo', 'eth0', 'eth1', ...pods.map(() => `cali${rng.hex(11)}`)];
  for (const device of devices) {
    for (const metric of NET_METRICS) c.add(metric, 'counter', { ...target, device });
  }
}

function cadvisor(c: Collector, ip: string, pod: Pod): void {
  const uidPart = pod.uid.replace(/-/g, '_');
  for (const ctr of pod.containers) {
    const labels = {
      container: ctr.name,
      id: `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${uidPart}.slice/cri-containerd-${ctr.id}.scope`,
      image: ctr.image,
      instance: `${ip}:10250`,
      job: 'kubelet',
      metrics_path: '/metrics/cadvisor',
      name: ctr.id,
      namespace: pod.namespace,
      pod: pod.name,
    };
    for (const [metric, kind, perCpu] of CADVISOR_METRICS) c.add(metric, kind, perCpu ? { ...labels, cpu: 'total' } : labels);
  }
}

function kubeStateMetrics(c: Collector, ksmInstance: string, pod: Pod): void {
  const target = {
    container: 'kube-state-metrics',
    endpoint: 'http',
    instance: ksmInstance,
    job: 'kube-state-metrics',
    namespace: pod.namespace,
    pod: pod.name,
    service: 'kube-state-metrics',
    uid: pod.uid,
  };
  for (const phase of POD_PHASES) c.add('kube_pod_status_phase', 'gauge', { ...target, phase });
  for (const condition of READY_CONDITIONS) c.add('kube_pod_status_ready', 'gauge', { ...target, condition });
  for (const ctr of pod.containers) {
    c.add('kube_pod_container_status_restarts_total', 'counter', { ...target, container: ctr.name });
    c.add('kube_pod_container_status_ready', 'gauge', { ...target, container: ctr.name });
  }
}

/**
 * `count` distinct series, node by node: the node's own node_exporter series, then for each pod on
 * it the cAdvisor and kube-state-metrics series.
 */
export function generateSeries(options: SeriesOptions): Series[] {
  if (!Number.isInteger(options.count) || options.count < 1) throw new Error(`series count must be a positive integer (got ${options.count})`);
  const rng = new Rng(options.seed ?? DEFAULT_SEED);
  const c = new Collector(options.count, options.cluster, rng);
  const ksmInstance = `10.${rng.int(0, 255)}.${rng.int(0, 255)}.${rng.int(2, 250)}:8080`;
  for (let node = 0; !c.full; node++) {
    // Unique per node index for up to 2^22 nodes.
    const ip = `10.${(node >> 14) & 255}.${(node >> 6) & 255}.${(node & 63) * 4 + 1}`;
    const pods: Pod[] = [];
    const podCount = rng.int(12, 30);
    for (let i = 0; i < podCount; i++) pods.push(makePod(rng));
    nodeExporter(c, rng, ip, pods);
    for (const pod of pods) {
      cadvisor(c, ip, pod);
      kubeStateMetrics(c, ksmInstance, pod);
    }
  }
  return c.out;
}

/** The value of a series at its `k`-th scrape (k from 0). */
export function seriesValue(s: Series, k: number): number {
  const v = s.base + s.step * k;
  return s.kind === 'counter' ? v : Math.max(0, v);
}

/** `{__name__="x", a="b"}`-style rendering, for logs and tests. */
export function renderLabels(labels: readonly Label[]): string {
  return `{${labels.map((l) => `${l.name}=${JSON.stringify(l.value)}`).join(', ')}}`;
}
