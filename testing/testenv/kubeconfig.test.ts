import { contextName, renderKubeconfig, renderTokenFile } from './kubeconfig.js';

describe('renderTokenFile', () => {
  it('quotes the group list and leaves it out for users without groups', () => {
    const out = renderTokenFile([
      { name: 'admin', token: 't1', groups: ['system:masters'] },
      { name: 'nobody', token: 't2', groups: [] },
      { name: 'two', token: 't3', groups: ['a', 'b'] },
    ]);
    expect(out).toBe('t1,admin,admin,"system:masters"\nt2,nobody,nobody\nt3,two,two,"a,b"\n');
  });

  it('refuses values that would break the CSV', () => {
    expect(() => renderTokenFile([{ name: 'a,b', token: 't', groups: [] }])).toThrow(/commas/);
  });
});

describe('renderKubeconfig', () => {
  const users = [
    { name: 'admin', token: 'tok-a', groups: ['system:masters'] },
    { name: 'nobody', token: 'tok-n', groups: [] },
  ];

  it('has one context per user, the first current, and the CA inline', () => {
    const cfg = JSON.parse(renderKubeconfig({ server: 'https://127.0.0.1:1234', caPem: 'PEM', users }));
    expect(cfg['current-context']).toBe(contextName('admin'));
    expect(cfg.contexts.map((c: { name: string }) => c.name)).toEqual(['vf-testenv-admin', 'vf-testenv-nobody']);
    expect(cfg.users[1]).toEqual({ name: 'nobody', user: { token: 'tok-n' } });
    expect(cfg.clusters[0].cluster).toEqual({
      server: 'https://127.0.0.1:1234',
      'certificate-authority-data': Buffer.from('PEM').toString('base64'),
    });
  });

  it('can make another user current and rejects an unknown one', () => {
    const cfg = JSON.parse(renderKubeconfig({ server: 's', caPem: 'p', users, currentUser: 'nobody' }));
    expect(cfg['current-context']).toBe('vf-testenv-nobody');
    expect(() => renderKubeconfig({ server: 's', caPem: 'p', users, currentUser: 'x' })).toThrow(/unknown/);
    expect(() => renderKubeconfig({ server: 's', caPem: 'p', users: [] })).toThrow(/at least one/);
  });
});
