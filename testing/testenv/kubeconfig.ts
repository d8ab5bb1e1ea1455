// Pure renderers for the files kube-apiserver and its clients read: the static token file and a
// kubeconfig with one context per test user. Kept free of I/O so they are unit-tested directly.

export interface TokenUser {
  /** Name of the user, of its kubeconfig entry and (prefixed) of its context. */
  name: string;
  /** Bearer token (random per environment). */
  token: string;
  /** Kubernetes groups; `system:masters` bypasses RBAC, an empty list gets no permissions. */
  groups: string[];
}

/** The CSV that `--token-auth-file` reads: token,user,uid,"group1,group2". */
export function renderTokenFile(users: TokenUser[]): string {
  return users
    .map((u) => {
      for (const v of [u.name, u.token, ...u.groups]) {
        if (/[",\n]/.test(v)) throw new Error(`token file value must not contain quotes, commas or newlines: ${v}`);
      }
      const base = `${u.token},${u.name},${u.name}`;
      return u.groups.length ? `${base},"${u.groups.join(',')}"` : base;
    })
    .join('\n')
    .concat('\n');
}

export interface KubeconfigInput {
  /** https://127.0.0.1:<port> */
  server: string;
  /** PEM bundle the server certificate chains to. */
  caPem: string;
  users: TokenUser[];
  /** User whose context is current; default: the first. */
  currentUser?: string;
}

export const CLUSTER_NAME = 'vf-testenv';

/** Context name for a user, e.g. `vf-testenv-admin`. */
export function contextName(user: string): string {
  return `${CLUSTER_NAME}-${user}`;
}

/** A kubeconfig as JSON (valid YAML, so kubectl, helm and @kubernetes/client-node all read it). */
export function renderKubeconfig(input: KubeconfigInput): string {
  const first = input.users[0];
  if (!first) throw new Error('a kubeconfig needs at least one user');
  const current = input.currentUser ?? first.name;
  if (!input.users.some((u) => u.name === current)) throw new Error(`unknown current user ${current}`);
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      {
        name: CLUSTER_NAME,
        cluster: { server: input.server, 'certificate-authority-data': Buffer.from(input.caPem).toString('base64') },
      },
    ],
    users: input.users.map((u) => ({ name: u.name, user: { token: u.token } })),
    contexts: input.users.map((u) => ({
      name: contextName(u.name),
      context: { cluster: CLUSTER_NAME, user: u.name, namespace: 'default' },
    })),
    'current-context': contextName(current),
  };
  return `${JSON.stringify(config, null, 2)}\n`;
}
