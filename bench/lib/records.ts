/** Counting the records of GET records answers without parsing them (the runner stays light: it shares the cores). */
/**
 * Records in a GET records body, counted as it arrives: occurrences of `"partition":` (values never contain it
 * here), also those split between two chunks.
 */
export class RecordCounter {
  static readonly NEEDLE = Buffer.from('"partition":')
  count = 0
  /** The last NEEDLE.length - 1 bytes seen: the start of a match that the next chunk may complete. */
  #tail = Buffer.alloc(0)

  push (chunk: Buffer): this {
    const needle = RecordCounter.NEEDLE
    if (this.#tail.length > 0) {
      // Shorter than the needle on each side, so any match here spans the two chunks.
      const joint = Buffer.concat([this.#tail, chunk.subarray(0, needle.length - 1)])
      for (let i = joint.indexOf(needle); i !== -1; i = joint.indexOf(needle, i + 1)) this.count++
    }
    for (let i = chunk.indexOf(needle); i !== -1; i = chunk.indexOf(needle, i + needle.length)) this.count++
    const keep = needle.length - 1
    this.#tail = chunk.length >= keep
      ? Buffer.from(chunk.subarray(chunk.length - keep))
      : Buffer.concat([this.#tail, chunk]).subarray(-keep)
    return this
  }
}

export function countRecords (body: Buffer): number {
  return new RecordCounter().push(body).count
}
