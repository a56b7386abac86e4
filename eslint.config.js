import tseslint from 'typescript-eslint';

/**
 * The layers of the library, from the bottom: `util/`, `config/`, then `project/`, `registry/`
 * and `store/` (the rules and the adapters), then `backends/`, `http/`, `health/`, `testing/`,
 * the module and the entry points. A lower layer never imports a higher one.
 */
const HIGHER_LAYERS = [
  '../backends/*',
  '../http/*',
  '../health/*',
  '../testing/*',
  '../credentials.module*',
  '../index.js',
  '../backend.js',
];
const layerRule = (extra = []) => ({
  'no-restricted-imports': [
    'error',
    {
      patterns: [
        {
          group: [...HIGHER_LAYERS, ...extra],
          message:
            'A lower layer (util, config, project, registry, store) must not import a higher one: move the shared code down.',
        },
      ],
    },
  ],
});
const LIBRARY_SPECS = 'src/credentials/**/*.spec.ts';

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
  {
    files: ['src/credentials/{config,util,project,registry,store}/**/*.ts'],
    ignores: [LIBRARY_SPECS],
    rules: layerRule(['../credentials.options*']),
  },
);
