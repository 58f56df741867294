/**
 * Ten relabel rules of the kind operators put in `write_relabel_configs` to cut cardinality and
 * tidy labels before central storage, written for the bench's series (bench/lib/series.ts): two
 * drops of noisy node_exporter series, label extraction with capture groups, a lowercase, a
 * `__tmp_` hand-over between rules, and label drops. They drop about a third of the series and
 * change the labels of every other one, so no series goes out as it came.
 */
export const TYPICAL_RULES_YAML = `relabel_configs:
  - source_labels: [__name__]
    regex: "node_network_(receive|transmit)_(drop|errs|fifo|frame|compressed|carrier|colls|multicast)_total"
    action: drop
  - source_labels: [__name__, device]
    regex: "node_network_.*;(lo|veth.*|cali.*)"
    action: drop
  - source_labels: [instance]
    regex: "(.+):\\\\d+"
    target_label: host
  - source_labels: [pod]
    regex: "(.+)-[a-z0-9]{10}-[a-z0-9]{5}"
    target_label: workload
  - source_labels: [namespace]
    regex: "kube-.*|monitoring"
    target_label: platform
    replacement: "true"
  - action: labeldrop
    regex: "uid|endpoint|container_id"
  - source_labels: [job]
    target_label: job
    action: lowercase
  - source_labels: [__name__]
    regex: "(container|kube_pod)_.*"
    target_label: __tmp_source
    replacement: "$1"
  - source_labels: [__tmp_source, namespace]
    separator: "/"
    regex: "kube_pod/(.+)"
    target_label: team_namespace
  - action: labeldrop
    regex: "__tmp_.*"
`;
