/**
 * Shared schema primitives: names, error bodies. The error bodies are registered once by $id (by the errors
 * plugin), so routes reference them and /docs shows them as named components.
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox'

/** Namespaces and topics: the existing service's rule (3–32 of letters, digits, - and _, alphanumeric ends). */
export const NAME_PATTERN = '^[A-Za-z0-9](?:[A-Za-z0-9_-]{1,30})[A-Za-z0-9]$'
/** Consumer groups and instances: also dots, up to 128 characters (Confluent generates long instance names). */
export const MEMBER_NAME_PATTERN = '^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,126}[A-Za-z0-9])?$'
export const NAME_RULE = '3–32 letters, digits, - or _, not starting or ending with - or _'
export const MEMBER_NAME_RULE = '1–128 letters, digits, ., - or _, not starting or ending with ., - or _'
/** The rule in words for each name pattern, so a validation failure can say it instead of the regex. */
export const NAME_RULES: ReadonlyMap<string, string> = new Map([
  [NAME_PATTERN, NAME_RULE],
  [MEMBER_NAME_PATTERN, MEMBER_NAME_RULE]
])

export const NamespaceName = Type.String({ pattern: NAME_PATTERN, description: 'namespace: 3–32 letters, digits, - or _, not starting or ending with - or _', examples: ['ns-0123456789ab'] })
export const TopicName = Type.String({ pattern: NAME_PATTERN, description: 'topic name inside the namespace: 3–32 letters, digits, - or _, not starting or ending with - or _', examples: ['events'] })
export const GroupName = Type.String({ pattern: MEMBER_NAME_PATTERN, description: 'consumer group name inside the namespace: 1–128 letters, digits, ., - or _', examples: ['analysis'] })
export const InstanceName = Type.String({ pattern: MEMBER_NAME_PATTERN, description: 'consumer instance name: 1–128 letters, digits, ., - or _', examples: ['worker-1'] })

export const ConfluentError = Type.Object({
  error_code: Type.Integer({ description: 'HTTP status * 100 + sub-code, or the HTTP status', examples: [40403] }),
  message: Type.String({ examples: ['Consumer instance not found.'] })
}, { $id: 'ConfluentError', description: 'Confluent REST Proxy error' })

export const ManagementError = Type.Object({
  status: Type.Literal('failure'),
  code: Type.String({ description: 'stable error code', examples: ['TOKEN_INACTIVE'] }),
  message: Type.String(),
  reason: Type.String({ description: 'same as message (kept for existing SDK clients)' })
}, { $id: 'ManagementError', description: 'Management API error' })

export type ConfluentErrorT = Static<typeof ConfluentError>
export type ManagementErrorT = Static<typeof ManagementError>

/** A $ref to a registered schema that keeps its static type (Type.Ref(schema) is deprecated in 0.34). */
export function Ref<T extends TSchema> (schema: T): T {
  return Type.Unsafe<Static<T>>(Type.Ref(schema.$id as string)) as unknown as T
}

export const sharedSchemas = [ConfluentError, ManagementError]

/** Responses every authenticated route may give, per family. */
export const consumerErrorResponses = {
  400: Ref(ConfluentError),
  401: Ref(ConfluentError),
  403: Ref(ConfluentError),
  404: Ref(ConfluentError),
  406: Ref(ConfluentError),
  413: Ref(ConfluentError),
  415: Ref(ConfluentError),
  422: Ref(ConfluentError),
  500: Ref(ConfluentError),
  502: Ref(ConfluentError),
  503: Ref(ConfluentError)
}
export const managementErrorResponses = {
  400: Ref(ManagementError),
  401: Ref(ManagementError),
  403: Ref(ManagementError),
  404: Ref(ManagementError),
  406: Ref(ManagementError),
  409: Ref(ManagementError),
  413: Ref(ManagementError),
  415: Ref(ManagementError),
  422: Ref(ManagementError),
  500: Ref(ManagementError),
  502: Ref(ManagementError),
  503: Ref(ManagementError)
}
