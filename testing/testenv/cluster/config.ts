// Pure renderers for the one-node cluster's configuration files: addresses, containerd, CNI,
// kubelet, kube-proxy and CoreDNS. No I/O, so each is unit-tested directly (config.test.ts).

/**
 * The cluster's addresses. All inside 10.213.0.0/16, which overlaps neither the machine's own
 * network (192.0.2.0/24) nor anything else on it; pods route only this /16, so nothing they
 * send can leave the node.
 */
export const NET = {
  /** The node's own address, on an interface of its own: kubelet, apiserver and CoreDNS listen here. */
  nodeIp: '10.213.0.1',
  /** Everything the cluster uses, and the only route a pod gets. */
  clusterRange: '10.213.0.0/16',
  podCidr: '10.213.1.0/24',
  serviceCidr: '10.213.2.0/24',
  /** First address of the Service range: the `kubernetes` Service. */
  apiServiceIp: '10.213.2.1',
  dnsServiceIp: '10.213.2.10',
  /** Interface names (at most 15 characters). */
  nodeInterface: 'vfnode0',
  bridge: 'vfcni0',
} as const;

export const NODE_NAME = 'vf-node';
export const CLUSTER_DOMAIN = 'cluster.local';
export const API_PORT = 6443;
export const KUBELET_PORT = 10250;

/** Every path the node's programs write to, all inside the run's own directory. */
export interface ClusterPaths {
  root: string;
  containerdRoot: string;
  containerdState: string;
  containerdSocket: string;
  runcRoot: string;
  cniConfDir: string;
  cniDataDir: string;
  kubeletRoot: string;
  podLogs: string;
  resolvConf: string;
}

export function clusterPaths(root: string): ClusterPaths {
  return {
    root,
    containerdRoot: `${root}/containerd/root`,
    containerdState: `${root}/containerd/state`,
    containerdSocket: `${root}/containerd/containerd.sock`,
    runcRoot: `${root}/containerd/runc`,
    cniConfDir: `${root}/cni/net.d`,
    cniDataDir: `${root}/cni/ipam`,
    kubeletRoot: `${root}/kubelet`,
    podLogs: `${root}/pod-logs`,
    resolvConf: `${root}/resolv.conf`,
  };
}

/** containerd 1.6 (config version 2) with its own root, state, socket and runc state. */
export function renderContainerdConfig(p: ClusterPaths, sandboxImage: string, cniBinDir: string): string {
  const q = JSON.stringify;
  return `version = 2
root = ${q(p.containerdRoot)}
state = ${q(p.containerdState)}
# Snapshotters that this machine cannot use would only log errors at start.
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs"]

[grpc]
  address = ${q(p.containerdSocket)}

[ttrpc]
  address = ${q(`${p.containerdSocket}.ttrpc`)}

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = ${q(sandboxImage)}
  # No CAP_SYS_RESOURCE here: lowering oom_score_adj (sandboxes ask for -998) is refused, and
  # runc then fails with "can't get final child's PID from pipe: EOF".
  restrict_oom_score_adj = true
  disable_apparmor = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = ${q(cniBinDir)}
    conf_dir = ${q(p.cniConfDir)}
    max_conf_num = 1
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        Root = ${q(p.runcRoot)}
        SystemdCgroup = false
`;
}

/**
 * One bridge for all pods. Pods get a route to the cluster's /16 only (no default route), and
 * no masquerading: nothing a pod sends can be routed off this machine.
 */
export function renderCniConfig(p: ClusterPaths): string {
  return `${JSON.stringify(
    {
      cniVersion: '1.0.0',
      name: 'vf-cluster',
      plugins: [
        {
          type: 'bridge',
          bridge: NET.bridge,
          isGateway: true,
          ipMasq: false,
          hairpinMode: true,
          ipam: {
            type: 'host-local',
            ranges: [[{ subnet: NET.podCidr }]],
            routes: [{ dst: NET.clusterRange }],
            dataDir: p.cniDataDir,
          },
        },
      ],
    },
    null,
    2,
  )}\n`;
}

/** KubeletConfiguration: cgroupfs on cgroup v1, no swap check, everything under the run dir. */
export function renderKubeletConfig(p: ClusterPaths, opts: { clientCaFile: string; cgroupRoot: string }): string {
  return `${JSON.stringify(
    {
      apiVersion: 'kubelet.config.k8s.io/v1beta1',
      kind: 'KubeletConfiguration',
      address: NET.nodeIp,
      port: KUBELET_PORT,
      readOnlyPort: 0,
      healthzBindAddress: '127.0.0.1',
      healthzPort: 0,
      containerRuntimeEndpoint: `unix://${p.containerdSocket}`,
      cgroupDriver: 'cgroupfs',
      cgroupRoot: opts.cgroupRoot,
      failSwapOn: false,
      failCgroupV1: false,
      enforceNodeAllocatable: [],
      // Not the system's /var/log/pods: down removes the run dir and with it every log.
      podLogsDir: p.podLogs,
      clusterDNS: [NET.dnsServiceIp],
      clusterDomain: CLUSTER_DOMAIN,
      // Pods with dnsPolicy Default get this (empty) file, never the machine's resolver.
      resolvConf: p.resolvConf,
      // iptables belongs to kube-proxy; the kubelet's canary chains would outlive `down`.
      makeIPTablesUtilChains: false,
      authentication: {
        anonymous: { enabled: false },
        webhook: { enabled: true },
        x509: { clientCAFile: opts.clientCaFile },
      },
      authorization: { mode: 'Webhook' },
      // A test machine's disk is shared: evict only when it is really full.
      evictionHard: { 'memory.available': '100Mi', 'nodefs.available': '1%', 'imagefs.available': '1%' },
      imageGCHighThresholdPercent: 99,
      imageGCLowThresholdPercent: 98,
      serializeImagePulls: false,
      // The node is up in seconds; don't wait the defaults (40 s, 5 min) to notice a dead one.
      nodeStatusUpdateFrequency: '4s',
    },
    null,
    2,
  )}\n`;
}

/** KubeProxyConfiguration: iptables mode; leaves the machine's conntrack settings alone. */
export function renderKubeProxyConfig(opts: { kubeconfig: string; metricsPort: number; healthzPort: number }): string {
  return `${JSON.stringify(
    {
      apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
      kind: 'KubeProxyConfiguration',
      mode: 'iptables',
      hostnameOverride: NODE_NAME,
      clusterCIDR: NET.podCidr,
      clientConnection: { kubeconfig: opts.kubeconfig },
      bindAddress: NET.nodeIp,
      metricsBindAddress: `127.0.0.1:${opts.metricsPort}`,
      healthzBindAddress: `127.0.0.1:${opts.healthzPort}`,
      // NodePorts answer on the node's own address only, never on the machine's network.
      nodePortAddresses: [`${NET.nodeIp}/32`],
      conntrack: { maxPerCore: 0, min: 0, tcpEstablishedTimeout: '0s', tcpCloseWaitTimeout: '0s' },
    },
    null,
    2,
  )}\n`;
}

/**
 * CoreDNS serves the cluster domain and the reverse zones only, from the apiserver. There is no
 * `forward`: pods need no outside names, and no query may leave the machine.
 */
export function renderCorefile(opts: { kubeconfig: string; readyPort: number; healthPort: number }): string {
  return `${CLUSTER_DOMAIN} in-addr.arpa ip6.arpa {
    bind ${NET.nodeIp}
    errors
    health 127.0.0.1:${opts.healthPort}
    ready 127.0.0.1:${opts.readyPort}
    kubernetes ${CLUSTER_DOMAIN} in-addr.arpa ip6.arpa {
        kubeconfig ${opts.kubeconfig}
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }
    cache 30
    loadbalance
}
`;
}

/** The resolv.conf for pods with dnsPolicy Default: no nameserver beyond the cluster's. */
export function renderResolvConf(): string {
  return `nameserver ${NET.dnsServiceIp}\nsearch ${CLUSTER_DOMAIN}\n`;
}
