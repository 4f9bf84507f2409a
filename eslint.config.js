import neostandard from 'neostandard'

export default [
  ...neostandard({
    ts: true,
    ignores: [
      'dist/**', 'node_modules/**', '.kafka/**', 'coverage/**', '.tap/**', 'data/**', 'bench/out/**', 'tmp-scratch/**',
      '.venv-fuzz/**', '.venv-sdk/**', '.venv-moto/**'
    ]
  }),
  {
    // Code and comments wrap at 120 columns; long strings, templates, regexps and URLs may not be cut.
    rules: {
      '@stylistic/max-len': ['error', {
        code: 120, ignoreUrls: true, ignoreStrings: true, ignoreTemplateLiterals: true, ignoreRegExpLiterals: true
      }]
    }
  }
]
