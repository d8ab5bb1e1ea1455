// Jest globalSetup: see jest-global.ts (TypeScript run through Node's type stripping).
import './ts-hooks.mjs';

export default async function globalSetup() {
  const { globalSetup: setup } = await import('./jest-global.ts');
  await setup();
}
