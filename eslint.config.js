import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: [
      'bench/dist/**',
      'dist/**',
      'node_modules/**',
      'coverage/**',
      '**/*.js',
      '!eslint.config.js',
    ],
  },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
    },
  },
);
