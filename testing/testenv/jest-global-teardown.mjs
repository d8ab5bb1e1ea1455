// Jest globalTeardown: see jest-global.ts.
import './ts-hooks.mjs';

export default async function globalTeardown() {
  const { globalTeardown: teardown } = await import('./jest-global.ts');
  await teardown();
}
