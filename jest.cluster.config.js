// The suites that run on a real cluster (e2e/cluster/), started by `npm run e2e:cluster`
// (e2e/cluster/run.sh), which brings the cluster up and hands it over through KUBECONFIG and
// VF_CLUSTER_BIN. Same TypeScript/ESM setup as jest.config.js, no test servers of its own.
import base from './jest.config.js';

/** @type {import('jest').Config} */
export default {
  testEnvironment: base.testEnvironment,
  extensionsToTreatAsEsm: base.extensionsToTreatAsEsm,
  moduleNameMapper: base.moduleNameMapper,
  transform: base.transform,
  testMatch: ['<rootDir>/e2e/cluster/**/*.test.ts'],
  testPathIgnorePatterns: ['/node_modules/', '/dist/'],
  modulePathIgnorePatterns: base.modulePathIgnorePatterns,
  // Pods start in seconds, but image unpacking and rollouts on 2 cores take a while.
  testTimeout: 300_000,
  reporters: base.reporters,
};
