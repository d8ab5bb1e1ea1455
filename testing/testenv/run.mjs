// Entry of `npm run testenv -- …`: see main.ts.
import './ts-hooks.mjs';

const { main } = await import('./main.ts');
try {
  process.exitCode = await main(process.argv.slice(2));
} catch (err) {
  console.error(`testenv: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
}
