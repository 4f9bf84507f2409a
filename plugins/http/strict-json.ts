/**
 * What Ajv's type coercion must not do to a JSON body. Validation runs with `coerceTypes: true`, for
 * Confluent's (Jackson's) leniency: `"fetch.min.bytes": "1024"` is 1024 and `"auto.commit.enable": false` is
 * "false". But Ajv also turns `null` into 0, "" or false and booleans into 1 or 0, so `"offset": null` would
 * commit offset 1 and `"partition": true` would seek partition 1. This walks a body beside its JSON Schema
 * first, as Jackson reads it:
 *
 * - `null` for an optional property that does not allow null means "not given": the property is removed;
 * - `null` anywhere else that does not allow it (a required property, an array item, a map value) is an error;
 * - a boolean where only numbers are allowed is an error.
 *
 * Plain module: no Fastify import.
 */

interface Schema {
  type?: string | string[]
  nullable?: boolean
  anyOf?: Schema[]
  oneOf?: Schema[]
  properties?: Record<string, Schema>
  required?: string[]
  items?: Schema
  patternProperties?: Record<string, Schema>
  additionalProperties?: boolean | Schema
}

export interface JsonTypeIssue {
  /** Dotted path of the offending value, e.g. `offsets.0.offset`. */
  path: string
  /** What is wrong, to follow the path: `must not be null`, `must be integer`. */
  message: string
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v)

/** The JSON types a schema accepts; undefined when it accepts any (no `type` anywhere). */
function typesOf (schema: Schema): Set<string> | undefined {
  const branches = schema.anyOf ?? schema.oneOf
  if (branches) {
    const out = new Set<string>()
    for (const b of branches) {
      const t = typesOf(b)
      if (t === undefined) return undefined
      for (const x of t) out.add(x)
    }
    return out
  }
  if (schema.type === undefined) return undefined
  const out = new Set(Array.isArray(schema.type) ? schema.type : [schema.type])
  if (schema.nullable === true) out.add('null')
  return out
}

function join (path: string, key: string | number): string {
  return path === '' ? String(key) : `${path}.${key}`
}

/** The schema of `key` in an object schema: a declared property, a pattern property, or additionalProperties. */
function propertySchema (schema: Schema, key: string): Schema | undefined {
  const declared = schema.properties?.[key]
  if (declared) return declared
  for (const [pattern, s] of Object.entries(schema.patternProperties ?? {})) {
    if (new RegExp(pattern, 'u').test(key)) return s
  }
  return isObject(schema.additionalProperties) ? schema.additionalProperties as Schema : undefined
}

/**
 * Check `value` against `schema` (see the module comment), removing optional nulls in place. Returns the
 * first issue, or undefined. Anything else is left to the validator.
 */
export function strictJsonTypes (value: unknown, schema: unknown, path = ''): JsonTypeIssue | undefined {
  if (!isObject(schema)) return undefined
  const s = schema as Schema
  const types = typesOf(s)
  if (value === null) {
    return types === undefined || types.has('null') ? undefined : { path, message: 'must not be null' }
  }
  if (typeof value === 'boolean') {
    if (types === undefined || types.has('boolean') || types.has('string')) return undefined
    if (types.has('integer') || types.has('number')) return { path, message: `must be ${types.has('integer') ? 'integer' : 'number'}` }
    return undefined
  }
  if (Array.isArray(value)) {
    if (!s.items) return undefined
    for (let i = 0; i < value.length; i++) {
      const issue = strictJsonTypes(value[i], s.items, join(path, i))
      if (issue) return issue
    }
    return undefined
  }
  if (isObject(value)) {
    for (const key of Object.keys(value)) {
      const ps = propertySchema(s, key)
      if (!ps) continue
      const v = value[key]
      if (v === null && s.properties?.[key] !== undefined && !(s.required ?? []).includes(key)) {
        const t = typesOf(ps)
        if (t !== undefined && !t.has('null')) {
          delete value[key]
          continue
        }
      }
      const issue = strictJsonTypes(v, ps, join(path, key))
      if (issue) return issue
    }
  }
  return undefined
}
