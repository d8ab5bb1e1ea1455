#!/usr/bin/env node
// Regenerates the kustomize base in manifests/ from the chart's defaults (release "vendorfetch",
// namespace "vendorfetch"), so the two install paths cannot drift (chart.test.ts compares them):
//   node e2e/deploy/render-manifests.mjs [path/to/helm]      (default: helm on PATH)
// Objects from manifests/controller-rbac.yaml (the controller's ServiceAccount and RBAC, kept by
// hand there) are left out; helm's own labels and checksum annotations are dropped. Also copies
// crds/vendorpools.vendorfetch.io.yaml into manifests/crd/ and, wrapped in the crds.install
// toggle with helm.sh/resource-policy: keep, into charts/vendorfetch/templates/crds/.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments, stringify } from 'yaml';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const helm = process.argv[2] ?? 'helm';
// The chart's CRD template first: `helm template` below renders it too.
const CRD = 'crds/vendorpools.vendorfetch.io.yaml';
const source = readFileSync(path.join(root, CRD), 'utf8');
const NAME_LINE = '  name: vendorpools.vendorfetch.io\n';
if (!source.includes(NAME_LINE) || source.includes('{{')) throw new Error(`${CRD}: unexpected layout (name line, or template braces)`);
const wrapped =
  '{{- if .Values.crds.install }}\n' +
  `# Generated from ${CRD} by e2e/deploy/render-manifests.mjs; e2e/deploy/chart.test.ts checks it.\n` +
  source.replace(NAME_LINE, `${NAME_LINE}  annotations:\n    # Kept on helm uninstall: deleting the CRD would delete every VendorPool.\n    helm.sh/resource-policy: keep\n`) +
  '{{- end }}\n';
mkdirSync(path.join(root, 'charts/vendorfetch/templates/crds'), { recursive: true });
writeFileSync(path.join(root, 'charts/vendorfetch/templates/crds/vendorpools.vendorfetch.io.yaml'), wrapped);

const out = execFileSync(helm, ['template', 'vendorfetch', path.join(root, 'charts/vendorfetch'), '--namespace', 'vendorfetch', '--kube-version', '1.33.0'], { encoding: 'utf8' });

const handKept = new Set(['ServiceAccount/vendorfetch-controller', 'ClusterRole/vendorfetch-controller', 'ClusterRoleBinding/vendorfetch-controller', 'Role/vendorfetch-controller-leader-election', 'RoleBinding/vendorfetch-controller-leader-election']);
const strip = (labels) => {
  if (!labels) return labels;
  const { 'helm.sh/chart': _c, 'app.kubernetes.io/managed-by': _m, ...rest } = labels;
  return rest;
};
const files = new Map();
for (const doc of parseAllDocuments(out)) {
  const o = doc.toJS();
  if (!o?.kind) continue;
  const id = `${o.kind}/${o.metadata.name}`;
  if (handKept.has(id) || o.kind === 'CustomResourceDefinition') continue; // the CRD: manifests/crd/
  if (o.metadata.annotations?.['helm.sh/hook']) continue; // `helm test` pods: helm only
  o.metadata.labels = strip(o.metadata.labels);
  const tpl = o.spec?.template?.metadata;
  if (tpl) {
    tpl.labels = strip(tpl.labels);
    for (const k of Object.keys(tpl.annotations ?? {})) if (k.startsWith('checksum/')) delete tpl.annotations[k];
    if (tpl.annotations && Object.keys(tpl.annotations).length === 0) delete tpl.annotations;
  }
  const component = o.metadata.labels?.['app.kubernetes.io/component'];
  const file = o.kind === 'Secret' ? 'connections-secret.yaml' : `${component}.yaml`;
  files.set(file, [...(files.get(file) ?? []), o]);
}

const header = (what) => `# ${what}\n# Generated from charts/vendorfetch (defaults) by e2e/deploy/render-manifests.mjs — edit the chart\n# and regenerate; e2e/deploy/chart.test.ts fails when the two differ.\n`;
const notes = {
  'api.yaml': header('The api: ServiceAccount (no token), Deployment, Service, PodDisruptionBudget.'),
  'controller.yaml': header('The controller: Deployment (2 replicas, leader election), metrics Service, PodDisruptionBudget.\n# Its ServiceAccount and RBAC are in controller-rbac.yaml.'),
  'connections-secret.yaml': header('Redis and MongoDB URLs for the api, the controller and the workers. PLACEHOLDERS: point\n# them at your servers before applying (or replace the Secret afterwards).'),
};
for (const [file, objs] of files) {
  writeFileSync(path.join(root, 'manifests', file), (notes[file] ?? header(file)) + objs.map((o) => stringify(o, { lineWidth: 0 })).join('---\n'));
}
mkdirSync(path.join(root, 'manifests', 'crd'), { recursive: true });
copyFileSync(path.join(root, CRD), path.join(root, 'manifests/crd/vendorpools.vendorfetch.io.yaml'));
console.log(`wrote manifests/{${[...files.keys()].join(',')}}, manifests/crd/ and charts/vendorfetch/templates/crds/`);
