import neostandard from 'neostandard'

export default [
  ...neostandard({ ts: true, ignores: ['dist/**', 'node_modules/**', '.kafka/**', 'coverage/**', '.tap/**', 'data/**', 'bench/out/**', 'tmp-scratch/**', '.venv-fuzz/**', '.venv-sdk/**', '.venv-moto/**'] })
]
