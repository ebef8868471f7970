// ESLint flat config (eslint 9 + typescript-eslint recommended): `npm run lint`, run by .ci/run before the tests.
// Type-aware rules (recommendedTypeChecked) are left out: they took ~95 s here against ~20 s without them.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'bench/results/**', 'coverage/**', '.pgshift-test/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { ecmaVersion: 2022, sourceType: 'module' },
    rules: {
      // A leading underscore marks a binding as deliberately unused (`for (const _ in row)`, `{ omitted: _, ...rest }`).
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // TypeScript resolves names in .ts files (typescript-eslint turns no-undef off there); the few .js files
    // (bin/pgshift.js, this file) use only `process`. Named here rather than via the `globals` package, which is
    // only a transitive dependency.
    files: ['**/*.js'],
    languageOptions: { globals: { process: 'readonly' } },
  },
  {
    files: ['test/**/*.ts'],
    rules: {
      // Tests assert on the CLI's parsed --json output; the assertions are its type check.
      '@typescript-eslint/no-explicit-any': 'off',
    },
  },
);
