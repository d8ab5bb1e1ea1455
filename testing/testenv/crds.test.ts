import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { readCrds } from './crds.js';

describe('readCrds', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'vf-crds-test-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('returns nothing for a missing or empty folder', async () => {
    expect(await readCrds(path.join(dir, 'nope'))).toEqual([]);
    expect(await readCrds(dir)).toEqual([]);
  });

  it('keeps only CustomResourceDefinition documents, across files and multi-document YAML', async () => {
    await writeFile(
      path.join(dir, 'a.yaml'),
      'apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: as.x.io}\n---\nkind: ConfigMap\nmetadata: {name: c}\n',
    );
    await writeFile(path.join(dir, 'kustomization.yml'), 'resources: [a.yaml]\n');
    await writeFile(path.join(dir, 'notes.txt'), 'kind: CustomResourceDefinition\n');
    const crds = await readCrds(dir);
    expect(crds.map((c) => c.metadata?.name)).toEqual(['as.x.io']);
  });

  it('reports the file of a YAML syntax error', async () => {
    await writeFile(path.join(dir, 'z.yaml'), 'kind: [unclosed\n');
    await expect(readCrds(dir)).rejects.toThrow(/z\.yaml/);
  });
});
