/**
 * Jest runs in native ESM mode (`--experimental-vm-modules`, set by `npm test`)
 * because Nest 12 ships ESM-only packages. ts-jest transpiles each file on its
 * own (`isolatedModules` in tsconfig.json), which keeps a spec's start fast.
 */
/** @type {import('jest').Config} */
export default {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  roots: ['<rootDir>/lib', '<rootDir>/test', '<rootDir>/sample/test'],
  testMatch: ['**/*.spec.ts'],
  moduleNameMapper: {
    // The sample imports the library by its package name; test it against the source.
    '^nestjs-distributed-lock$': '<rootDir>/lib/index.ts',
    '^(\\.{1,2}/.*)\\.js$': '$1',
  },
  transform: {
    '^.+\\.ts$': ['ts-jest', { useESM: true, tsconfig: 'tsconfig.json' }],
  },
  testTimeout: 30000,
};
