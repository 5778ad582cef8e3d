// ESLint 9 flat config: typed linting for every package's TypeScript, plain linting for
// the repository's own JavaScript (this file, test/run.mjs). `npm run lint` runs it
// together with `prettier --check`; formatting is prettier's job, so no style rules here.
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: [
      '**/dist/**',
      '**/node_modules/**',
      'proto/src/gen/**',
      '.tap/**',
      '.flotilla/**',
      'coverage/**',
    ],
  },
  {
    linterOptions: { reportUnusedDisableDirectives: 'error' },
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked.map((config) => ({
    ...config,
    files: ['**/*.ts'],
  })),
  {
    files: ['**/*.ts'],
    languageOptions: {
      parserOptions: {
        // One TypeScript program per package tsconfig (the nearest tsconfig.json), shared
        // across files, so typed rules stay fast enough for two cores.
        projectService: true,
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          // tap queues subtests itself: `t.test(...)` need not be awaited.
          allowForKnownSafePromises: [
            { from: 'package', name: 'PromiseWithSubtest', package: '@tapjs/core' },
          ],
        },
      ],
      // An async function that implements a Promise-returning interface need not await;
      // a forgotten await where one is needed is caught by no-floating-promises.
      '@typescript-eslint/require-await': 'off',
      // void-returning callbacks (event handlers, timers) may be async only when the
      // promise is handled; object properties are checked too.
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/consistent-type-imports': [
        'error',
        // Both `import type { A }` and `import { type A, b }` are accepted.
        { prefer: 'type-imports', fixStyle: 'inline-type-imports' },
      ],
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_' },
      ],
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      '@typescript-eslint/only-throw-error': 'error',
      eqeqeq: ['error', 'always'],
    },
  },
  {
    // Libraries and daemons log through the structured logger of @flotilla/common. The CLI
    // (deploy/) also keeps console out of its sources: user-facing output goes through
    // process.stdout.write / process.stderr.write behind an injected writer, so tests can
    // capture it.
    files: ['*/src/**/*.ts'],
    rules: { 'no-console': 'error' },
  },
  {
    // Tests may print diagnostics; tap shows them beside the results.
    files: ['test/**/*.ts'],
    rules: { 'no-console': 'off' },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    languageOptions: {
      ecmaVersion: 2023,
      sourceType: 'module',
      globals: { ...globals.node },
    },
  },
  {
    // The CLI's entry is CommonJS for its start-up time (deploy/bin/package.json).
    files: ['deploy/bin/*.js'],
    languageOptions: { sourceType: 'commonjs' },
  },
);
