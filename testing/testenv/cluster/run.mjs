// Entry of `npm run cluster -- …`: see main.ts.
import '../ts-hooks.mjs';

const { main } = await import('./main.ts');
try {
  process.exitCode = await main(process.argv.slice(2));
} catch (err) {
  console.error(`cluster: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
}
