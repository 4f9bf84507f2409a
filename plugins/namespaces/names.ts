/**
 * Name rules and the mapping between the user's names and Kafka's. Topic `t` of namespace `ns` is the Kafka
 * topic `ns.t`, group `g` is the Kafka group `ns.g`. Namespace and topic names never contain a dot, so the
 * first dot of a Kafka name always separates the namespace. Plain module: no Fastify import.
 */
import { ApiError, Errors } from '../errors/errors.js'
import { MEMBER_NAME_PATTERN, MEMBER_NAME_RULE, NAME_PATTERN, NAME_RULE } from '../../schemas/common.js'

/** The existing service's rule for namespaces and topics: 3–32 of letters, digits, - and _, alphanumeric ends. */
export const NAME_RE = new RegExp(NAME_PATTERN)
/** Consumer groups (and instances): letters, digits, ., - and _, 1–128 characters, alphanumeric ends. */
export const MEMBER_NAME_RE = new RegExp(MEMBER_NAME_PATTERN)
export { NAME_RULE, MEMBER_NAME_RULE }

/**
 * Names a user may not claim for a namespace. `namespace` would be shadowed by the static
 * `/api/v3/namespace/...` routes, so its topics could never be managed.
 */
export const RESERVED_NAMESPACES: ReadonlySet<string> = new Set(['namespace'])

/** The shape of every default namespace (`ns-` + 12 hex digits); only the subject it derives from may hold one. */
export const DEFAULT_NAMESPACE_RE = /^ns-[0-9a-f]{12}$/i

export type NameKind = 'namespace' | 'topic' | 'group'

export function isValidName (name: string): boolean {
  return typeof name === 'string' && NAME_RE.test(name)
}

export function isValidMemberName (name: string): boolean {
  return typeof name === 'string' && MEMBER_NAME_RE.test(name)
}

/** A 422 naming the rule that was broken (management shape: code INVALID_NAME; consumer shape: 42204). */
export function invalidName (kind: NameKind, name?: string): ApiError {
  return Errors.invalidName(kind, kind === 'group' ? MEMBER_NAME_RULE : NAME_RULE, name)
}

export function assertName (kind: 'namespace' | 'topic', name: string): void {
  if (!isValidName(name)) throw invalidName(kind, name)
}

/**
 * The caller's default namespace, as the existing service derives it: `ns-` + the last 12 characters of the
 * subject with dashes removed. Throws a 422 when the subject cannot yield a valid name (never for a Globus UUID).
 */
export function defaultNamespace (subject: string): string {
  const ns = `ns-${subject.replace(/-/g, '').slice(-12)}`
  if (!isValidName(ns)) throw new ApiError(422, 42204, 'Cannot derive a default namespace from this identity', { code: 'INVALID_SUBJECT' })
  return ns
}

/** Kafka topic for topic `topic` of namespace `ns`. Throws a 422 for names that break the rules. */
export function kafkaTopic (ns: string, topic: string): string {
  assertName('namespace', ns)
  assertName('topic', topic)
  return `${ns}.${topic}`
}

/** Kafka consumer group for group `group` of namespace `ns`. Throws a 422 for names that break the rules. */
export function kafkaGroup (ns: string, group: string): string {
  assertName('namespace', ns)
  if (!isValidMemberName(group)) throw invalidName('group', group)
  return `${ns}.${group}`
}

/**
 * The user's name of a Kafka topic when it belongs to namespace `ns` (prefix `ns.` and a valid topic name
 * after it), else undefined. Used to filter cluster-wide listings down to one namespace.
 */
export function userTopic (ns: string, topic: string): string | undefined {
  if (!isValidName(ns) || typeof topic !== 'string') return undefined
  const prefix = `${ns}.`
  if (!topic.startsWith(prefix)) return undefined
  const rest = topic.slice(prefix.length)
  return isValidName(rest) ? rest : undefined
}

/** Kafka's metric names turn '.' into '_', so `a_b.c` and `a.b_c` collide; this is the form Kafka compares. */
export function metricName (topic: string): string {
  return topic.replace(/\./g, '_')
}
