// Lint as the Knative func TypeScript templates do: typescript-eslint's recommended rules, with formatting
// left to prettier.
import eslint from '@eslint/js';
import prettier from 'eslint-config-prettier';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', '.tap/'] },
  eslint.configs.recommended,
  ...tseslint.configs.recommended,
  prettier,
  {
    languageOptions: { globals: { process: 'readonly', Buffer: 'readonly', console: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      eqeqeq: ['error', 'always'],
    },
  },
  {
    // The service loads its native packages through their CommonJS entries, which start faster
    // (func/detector/core/sharp-cjs.ts, onnxruntime-cjs.ts).
    files: ['func/**/*.ts'],
    ignores: ['func/detector/core/sharp-cjs.ts', 'func/detector/core/onnxruntime-cjs.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: [
            { name: 'sharp', message: 'Import sharp from func/detector/core/sharp-cjs.ts.', allowTypeImports: true },
            {
              name: 'onnxruntime-node',
              message: 'Import onnxruntime-node from func/detector/core/onnxruntime-cjs.ts.',
              allowTypeImports: true,
            },
          ],
        },
      ],
    },
  },
);
