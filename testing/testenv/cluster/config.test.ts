import { chainsToRemove, parseChains } from './host.js';
import { NET, clusterPaths, renderCniConfig, renderContainerdConfig, renderCorefile, renderKubeletConfig, renderKubeProxyConfig } from './config.js';

const p = clusterPaths('/tmp/vf-cluster-x');

describe('cluster addresses', () => {
  const inRange = (ip: string, cidr: string) => {
    const [base, bits] = cidr.split('/') as [string, string];
    const n = (a: string) => a.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
    const mask = 2 ** 32 - 2 ** (32 - Number(bits));
    return (n(ip) & mask) >>> 0 === (n(base) & mask) >>> 0;
  };

  it('keeps every cluster address inside the cluster range and out of the machine network', () => {
    for (const ip of [NET.nodeIp, NET.apiServiceIp, NET.dnsServiceIp, NET.podCidr.split('/')[0]!, NET.serviceCidr.split('/')[0]!]) {
      expect({ ip, inCluster: inRange(ip, NET.clusterRange), inMachineNet: inRange(ip, '192.0.2.0/24') }).toEqual({ ip, inCluster: true, inMachineNet: false });
    }
    expect(inRange(NET.apiServiceIp, NET.serviceCidr)).toBe(true);
    expect(inRange(NET.dnsServiceIp, NET.serviceCidr)).toBe(true);
    expect(inRange(NET.nodeIp, NET.podCidr)).toBe(false);
  });
});

describe('renderers', () => {
  it('gives pods a route to the cluster range only and no masquerading', () => {
    const cni = JSON.parse(renderCniConfig(p));
    const bridge = cni.plugins[0];
    expect(bridge.ipMasq).toBe(false);
    expect(bridge.ipam.routes).toEqual([{ dst: NET.clusterRange }]);
    expect(bridge.ipam.dataDir.startsWith(p.root)).toBe(true);
  });

  it('keeps containerd state inside the run dir and never lowers oom_score_adj', () => {
    const toml = renderContainerdConfig(p, 'localhost/vf-pause:x', '/usr/lib/cni');
    for (const key of ['root', 'state', 'address', 'Root', 'conf_dir']) {
      const m = toml.match(new RegExp(`^\\s*${key} = "([^"]+)"`, 'm'));
      expect({ key, value: m?.[1]?.startsWith(p.root) }).toEqual({ key, value: true });
    }
    expect(toml).toMatch(/restrict_oom_score_adj = true/);
    expect(toml).toMatch(/sandbox_image = "localhost\/vf-pause:x"/);
  });

  it('runs the kubelet on cgroupfs, cgroup v1, with logs and resolv.conf of its own', () => {
    const k = JSON.parse(renderKubeletConfig(p, { clientCaFile: '/ca.crt', cgroupRoot: '/vf-cluster' }));
    expect(k).toMatchObject({ cgroupDriver: 'cgroupfs', failSwapOn: false, failCgroupV1: false, address: NET.nodeIp, readOnlyPort: 0, makeIPTablesUtilChains: false });
    expect(k.podLogsDir.startsWith(p.root)).toBe(true);
    expect(k.resolvConf.startsWith(p.root)).toBe(true);
    expect(k.authentication.anonymous.enabled).toBe(false);
    expect(k.clusterDNS).toEqual([NET.dnsServiceIp]);
  });

  it('binds NodePorts to the node address only and leaves conntrack sysctls alone', () => {
    const c = JSON.parse(renderKubeProxyConfig({ kubeconfig: '/k', metricsPort: 1, healthzPort: 2 }));
    expect(c.mode).toBe('iptables');
    expect(c.nodePortAddresses).toEqual([`${NET.nodeIp}/32`]);
    expect(c.conntrack.maxPerCore).toBe(0);
  });

  it('serves only the cluster zones and forwards nothing', () => {
    const corefile = renderCorefile({ kubeconfig: '/k', readyPort: 1, healthPort: 2 });
    expect(corefile.split('\n')[0]).toBe('cluster.local in-addr.arpa ip6.arpa {');
    expect(corefile).not.toMatch(/forward|proxy/);
    expect(corefile).toMatch(`bind ${NET.nodeIp}`);
  });
});

describe('iptables cleanup', () => {
  const before = `*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:DOCKER-USER - [0:0]
-A FORWARD -j DOCKER-USER
COMMIT
`;
  const after = `*nat
:PREROUTING ACCEPT [0:0]
:KUBE-SERVICES - [0:0]
-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:DOCKER-USER - [0:0]
:KUBE-FORWARD - [0:0]
:VF-CLUSTER-EGRESS - [0:0]
-A FORWARD -j VF-CLUSTER-EGRESS
-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD
-A FORWARD -j DOCKER-USER
-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP
-A VF-CLUSTER-EGRESS -s 10.213.1.0/24 ! -d 10.213.0.0/16 -j DROP
COMMIT
`;

  it('removes only the chains that were added, and the jumps into them', () => {
    const snap = parseChains(before);
    const filter = chainsToRemove(after, 'filter', snap.filter!);
    expect(filter.chains.sort()).toEqual(['KUBE-FORWARD', 'VF-CLUSTER-EGRESS']);
    expect(filter.deleteRules).toEqual([
      ['-D', 'FORWARD', '-j', 'VF-CLUSTER-EGRESS'],
      ['-D', 'FORWARD', '-m', 'comment', '--comment', 'kubernetes forwarding rules', '-j', 'KUBE-FORWARD'],
    ]);
    const nat = chainsToRemove(after, 'nat', snap.nat ?? []);
    expect(nat.chains).toEqual(['KUBE-SERVICES']);
    expect(nat.deleteRules).toEqual([['-D', 'PREROUTING', '-m', 'comment', '--comment', 'kubernetes service portals', '-j', 'KUBE-SERVICES']]);
  });
});
