import { COMPONENTS, parsePaths, programPath, withPrebuilt } from './binaries.js';

describe('parsePaths', () => {
  const line = (n: string, state = 'present') => `${n}\tv1\t/c/${n}-v1/${n}\t${state}`;

  it('reads one entry per component', () => {
    const b = parsePaths([...COMPONENTS.map((c) => line(c, c === 'kubernetes' ? 'missing' : 'present')), ''].join('\n'));
    expect(b.etcd).toEqual({ name: 'etcd', version: 'v1', path: '/c/etcd-v1/etcd', present: true });
    expect(b.kubernetes.present).toBe(false);
  });

  it('fails when build.sh left a component out', () => {
    expect(() => parsePaths([line('etcd'), line('ferretdb'), line('helm')].join('\n'))).toThrow(/kubernetes/);
  });
});

describe('prebuilt binaries (KUBEBUILDER_ASSETS)', () => {
  const line = (n: string) => `${n}\tv1\t/c/${n}-v1/${n}\t${n === 'etcd' || n === 'kubernetes' ? 'missing' : 'present'}`;
  const cached = parsePaths(COMPONENTS.map(line).join('\n'));

  it('stand in for etcd and kubernetes; only the programs they ship are linked', () => {
    const b = withPrebuilt(cached, {
      components: {
        etcd: { name: 'etcd', version: 'v3.5.9', path: '/a/etcd', present: true },
        kubernetes: { name: 'kubernetes', version: 'v1.30.0', path: '/a/kube-apiserver', present: true },
      },
      programs: { 'kube-apiserver': '/a/kube-apiserver', kubectl: '/a/kubectl' },
    });
    expect(COMPONENTS.filter((c) => !b[c].present)).toEqual([]);
    expect(b.etcd.path).toBe('/a/etcd');
    expect(programPath(b, 'kube-apiserver')).toBe('/a/kube-apiserver');
    expect(programPath(b, 'kubelet')).toBeUndefined();
  });

  it('without them, every program is the multi-call build', () => {
    expect(withPrebuilt(cached, undefined)).toBe(cached);
    expect(programPath(cached, 'kubelet')).toBe('/c/kubernetes-v1/kubernetes');
  });
});
