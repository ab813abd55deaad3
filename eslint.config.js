import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules', '.data', 'coverage', 'dist'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      // The contract forbids control characters in strings; matching them is the point.
      'no-control-regex': 'off',
    },
  },
  {
    files: ['bin/**/*.js'],
    languageOptions: { globals: { process: 'readonly', URL: 'readonly' } },
  },
  {
    // The operator console's script runs in the browser.
    files: ['src/console/assets/**/*.js'],
    languageOptions: {
      globals: Object.fromEntries(['document', 'location', 'history', 'sessionStorage', 'fetch', 'crypto', 'btoa', 'URLSearchParams', 'TextEncoder', 'FormData', 'Node', 'setInterval', 'clearInterval']
        .map((name) => [name, 'readonly'])),
    },
  },
  {
    // The domain stays free of infrastructure: deciders and evolvers are pure.
    files: ['src/commands/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: ['pg', 'kysely', 'bullmq', 'ioredis', 'fastify', '**/infra/**', '**/http/**', '**/projections/**'],
      }],
    },
  },
);
