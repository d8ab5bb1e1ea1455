// ESM + TypeScript through ts-jest (see shared TOOLCHAIN notes). Tests sit beside the code
// (`x.test.ts`); suites that need several real servers live under e2e/.
/** @type {import('jest').Config} */
export default {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: { '^.+\\.ts$': ['ts-jest', { useESM: true, tsconfig: 'tsconfig.json' }] },
  testMatch: ['<rootDir>/**/*.test.ts'],
  // e2e/cluster/ runs on a real cluster, through `npm run e2e:cluster` (jest.cluster.config.js).
  testPathIgnorePatterns: ['/node_modules/', '/dist/', '<rootDir>/e2e/cluster/'],
  modulePathIgnorePatterns: ['<rootDir>/dist/'],
  testTimeout: 60_000,
  // One set of real servers (kube-apiserver + etcd, FerretDB, redis-server, helm) per run; the
  // suites find them through KUBECONFIG, MONGODB_URL, REDIS_URL, VF_TESTENV_BIN (testing/testenv/).
  globalSetup: '<rootDir>/testing/testenv/jest-global-setup.mjs',
  globalTeardown: '<rootDir>/testing/testenv/jest-global-teardown.mjs',
  reporters: ['default', '<rootDir>/testing/summary-reporter.js'],
};
