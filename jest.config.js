// ts-jest in ESM mode: the project is "type": "module" and later depends on
// ESM-only packages (@kubernetes/client-node).
export default {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  // In the full-kernel VM (scripts/vm/, emulated: 7-12x slower) only transpile: the host build type-checks.
  transform: { '^.+\\.ts$': ['ts-jest', { useESM: true, tsconfig: 'tsconfig.json', ...(process.env.LCP_VM ? { isolatedModules: true } : {}) }] },
  testTimeout: 60000,
  reporters: ['default', '<rootDir>/test/summary-reporter.cjs'],
};
