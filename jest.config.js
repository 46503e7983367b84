/** @type {import('jest').Config} */
const tsJest = ['ts-jest', { tsconfig: 'tsconfig.json' }];
module.exports = {
  projects: [
    {
      displayName: 'unit',
      testEnvironment: 'node',
      transform: { '^.+\\.ts$': tsJest },
      testMatch: ['<rootDir>/src/**/*.test.ts'],
    },
    {
      displayName: 'e2e',
      testEnvironment: 'node',
      transform: { '^.+\\.ts$': tsJest },
      testMatch: ['<rootDir>/test/**/*.test.ts'],
    },
  ],
  collectCoverageFrom: ['src/**/*.ts', '!src/**/*.test.ts', '!src/testing/**'],
  coverageReporters: ['text-summary', 'lcov'],
  reporters: ['default', '<rootDir>/scripts/jest-summary.js'],
  coverageThreshold: {
    global: { statements: 94.8, branches: 87, functions: 94.5, lines: 96.4 },
  },
  testTimeout: 120000,
};
