// The cluster's certificates, made with the openssl CLI (Node's crypto makes keys but no X.509
// certificates): one CA that pods trust (kube-root-ca.crt), the apiserver's serving certificate
// for every name a client uses, and the client certificate the apiserver shows the kubelet.
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { NET, API_PORT } from './config.js';
import { run } from './host.js';

export interface Pki {
  caCert: string;
  caKey: string;
  apiserverCert: string;
  apiserverKey: string;
  kubeletClientCert: string;
  kubeletClientKey: string;
  /** RSA key that signs and verifies service-account tokens. */
  serviceAccountKey: string;
}

const DAYS = '30';

async function signedCert(dir: string, name: string, subject: string, ca: { cert: string; key: string }, ext: string): Promise<{ cert: string; key: string }> {
  const key = path.join(dir, `${name}.key`);
  const csr = path.join(dir, `${name}.csr`);
  const cert = path.join(dir, `${name}.crt`);
  const extFile = path.join(dir, `${name}.ext`);
  await writeFile(extFile, ext);
  await run('openssl', ['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', csr, '-subj', subject]);
  await run('openssl', ['x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-CAcreateserial', '-out', cert, '-days', DAYS, '-extfile', extFile]);
  return { cert, key };
}

export async function makePki(dir: string): Promise<Pki> {
  const caKey = path.join(dir, 'ca.key');
  const caCert = path.join(dir, 'ca.crt');
  await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', caKey, '-out', caCert, '-days', DAYS, '-subj', '/CN=vf-cluster-ca']);
  const ca = { cert: caCert, key: caKey };
  const names = ['kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local', 'localhost'];
  const ips = [NET.nodeIp, NET.apiServiceIp, '127.0.0.1'];
  const san = [...names.map((n) => `DNS:${n}`), ...ips.map((i) => `IP:${i}`)].join(',');
  const apiserver = await signedCert(dir, 'apiserver', '/CN=kube-apiserver', ca, `subjectAltName=${san}\nextendedKeyUsage=serverAuth\n`);
  // system:masters: the kubelet's webhook authorizer then lets the apiserver read logs and exec.
  const kubeletClient = await signedCert(dir, 'kubelet-client', '/O=system:masters/CN=kube-apiserver-kubelet-client', ca, 'extendedKeyUsage=clientAuth\n');
  const serviceAccountKey = path.join(dir, 'sa.key');
  await run('openssl', ['genrsa', '-out', serviceAccountKey, '2048']);
  return {
    caCert,
    caKey,
    apiserverCert: apiserver.cert,
    apiserverKey: apiserver.key,
    kubeletClientCert: kubeletClient.cert,
    kubeletClientKey: kubeletClient.key,
    serviceAccountKey,
  };
}

export const API_SERVER_URL = `https://${NET.nodeIp}:${API_PORT}`;
