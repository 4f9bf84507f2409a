/**
 * Consumer instance ids that name their owner node: `{nodeId}..{name}`. Node ids hold no dot, so the first
 * `..` ends the node id; the whole id stays a valid instance name (letters, digits, `.`, `-`, `_`, at most 128)
 * and one URL path segment. A name a client asks for is kept after the tag; a name that already carries a tag
 * (the SDK re-creates a lost instance under the id it was given, which names the old node) gets this node's
 * tag instead. Plain module.
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

/** The name without its node tag. */
export function untagged (instanceId: string): string {
  return ownerOf(instanceId) === undefined ? instanceId : instanceId.slice(instanceId.indexOf(SEPARATOR) + SEPARATOR.length)
}

/**
 * The id of an instance created on `nodeId`: the requested name (or a generated one) tagged with the node.
 * A requested name too long to carry the tag is refused with 422 (it would not fit the 128 characters).
 */
export function instanceIdFor (nodeId: string, requested?: string): string {
  const name = requested === undefined ? `rest-consumer-${randomUUID()}` : untagged(requested)
  const id = `${nodeId}${SEPARATOR}${name}`
  if (id.length > INSTANCE_NAME_MAX || name.length === 0) {
    throw Errors.invalidName('instance', `1–${INSTANCE_NAME_MAX - nodeId.length - SEPARATOR.length} characters on this service, ` +
      `whose instance ids carry the node's id (${nodeId.length + SEPARATOR.length} characters)`, requested)
  }
  return id
}
