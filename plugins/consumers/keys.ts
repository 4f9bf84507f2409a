/** Composite map keys of the engine (topic-partition, instance id): parts joined by NUL, which no name contains. */
export function compositeKey (...parts: Array<string | number>): string {
  return parts.join('\u0000')
}

export function tpKey (topic: string, partition: number): string {
  return `${topic}\u0000${partition}`
}
