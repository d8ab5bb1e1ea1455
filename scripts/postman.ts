// `npm run postman`: (re)writes docs/postman/ from the OpenAPI document. `--check` writes
// nothing and exits 1 when the committed files differ from a fresh generation (the jest test
// scripts/postman.test.ts does the same in CI).
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { openApiDocument } from '../api/openapi.js';
import { postmanFiles } from './postman-collection.js';
import { scenarios } from './postman-scenarios.js';

const POSTMAN_DIR = 'docs/postman';

const check = process.argv.includes('--check');
const files = postmanFiles(openApiDocument, scenarios);
let stale = 0;
for (const [name, content] of Object.entries(files)) {
  const file = path.join(POSTMAN_DIR, name);
  const current = await readFile(file, 'utf8').catch(() => undefined);
  if (current === content) continue;
  if (check) {
    console.error(`${file} differs from the OpenAPI document: run npm run postman`);
    stale += 1;
  } else {
    await mkdir(POSTMAN_DIR, { recursive: true });
    await writeFile(file, content);
    console.log(`wrote ${file}`);
  }
}
if (stale > 0) process.exit(1);
console.log(`${POSTMAN_DIR}/ is up to date with the OpenAPI document`);
