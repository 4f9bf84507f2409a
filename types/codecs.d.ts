// Minimal typings for untyped codec packages.
declare module 'kafkajs-snappy' {
  const codec: () => {
    compress (encoder: { buffer: Buffer }): Promise<Buffer>
    decompress (buffer: Buffer): Promise<Buffer>
  }
  export default codec
}
declare module 'lz4js' {
  export function compress (data: Uint8Array): Uint8Array
  export function decompress (data: Uint8Array): Uint8Array
  export function compressBound (n: number): number
  /** Compresses src[sIndex, sIndex + sLength) into dst from index 0; returns the size (0: not compressed). */
  export function compressBlock (
    src: Uint8Array,
    dst: Uint8Array,
    sIndex: number,
    sLength: number,
    hashTable: Uint32Array
  ): number
}
declare module 'lz4js/xxh32.js' {
  export function hash (seed: number, src: Uint8Array, index: number, length: number): number
}
