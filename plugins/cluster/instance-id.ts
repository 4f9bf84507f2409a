/**
 * Consumer instance ids. A generated one names the node that created it: `{nodeId}..{random}` (node ids hold no
 * dot, so the first `..` ends the node id; the whole id stays a valid instance name: letters, digits, `.`, `-`,
 * `_`, at most 128, and one URL path segment), so it is routed by its prefix and claimed nowhere. A name a
 * client asks for is the id itself, as Confluent's (its uniqueness across the nodes is a claim, claims.ts),
 * even when it has the generated form (the SDK re-creates a lost instance under the id it was given). Plain
 * module.
 */
import { randomUUID } from 'node:crypto'
import { Errors } from '../errors/errors.js'
import { NODE_ID_PATTERN } from '../config/config.js'

export const INSTANCE_NAME_MAX = 128
const SEPARATOR = '..'
const NODE_ID = new RegExp(NODE_ID_PATTERN)

/** The node an instance id names, or undefined when it names none (an id from a single-node service). */
export function ownerOf (instanceId: string): string | undefined {
  const i = instanceId.indexOf(SEPARATOR)
  if (i <= 0) return undefined
  const node = instanceId.slice(0, i)
  return NODE_ID.test(node) ? node : undefined
}

/** The id of an instance created on `nodeId`: the requested name as it is, or a generated one tagged with the node. */
export function instanceIdFor (nodeId: string, requested?: string): string {
  if (requested !== undefined) {
    if (requested.length === 0 || requested.length > INSTANCE_NAME_MAX) throw Errors.invalidName('instance', `1–${INSTANCE_NAME_MAX} characters`, requested)
    return requested
  }
  return `${nodeId}${SEPARATOR}rest-consumer-${randomUUID()}`
}
