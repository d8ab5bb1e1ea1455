import { COMPONENTS, parsePaths } from './binaries.js';

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
