/**
 * Encryption at rest of stored Kafka secrets: AES-256-GCM with a 32-byte key from KEYS_ENCRYPTION_KEY, a
 * random 96-bit nonce per secret, and the subject and access key as associated data, so a sealed secret
 * cannot be moved to another item and still open. Sealed form: `<base64 nonce>.<base64 ciphertext+tag>`;
 * the item is marked with `encryption: 'aes-256-gcm:v1'` (plain-text items of the existing service have no
 * mark and are read as they are). Plain module.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'

export const SECRET_ENCRYPTION = 'aes-256-gcm:v1'
const NONCE_BYTES = 12
const TAG_BYTES = 16

export class SecretBox {
  #key: Buffer

  /** `key`: 32 bytes, base64 (as KEYS_ENCRYPTION_KEY holds it). */
  constructor (key: string) {
    const raw = Buffer.from(key, 'base64')
    if (raw.length !== 32) throw new Error('KEYS_ENCRYPTION_KEY must be 32 bytes in base64')
    this.#key = raw
  }

  seal (secret: string, subject: string, accessKey: string): string {
    const nonce = randomBytes(NONCE_BYTES)
    const cipher = createCipheriv('aes-256-gcm', this.#key, nonce)
    cipher.setAAD(aad(subject, accessKey))
    const body = Buffer.concat([cipher.update(secret, 'utf8'), cipher.final(), cipher.getAuthTag()])
    return `${nonce.toString('base64')}.${body.toString('base64')}`
  }

  /** Throws (without any part of the secret in the message) when the item was not sealed with this key. */
  open (sealed: string, subject: string, accessKey: string): string {
    const [n, b] = sealed.split('.')
    const nonce = Buffer.from(n ?? '', 'base64')
    const body = Buffer.from(b ?? '', 'base64')
    if (nonce.length !== NONCE_BYTES || body.length < TAG_BYTES) throw new Error('stored secret is not in the sealed format')
    const decipher = createDecipheriv('aes-256-gcm', this.#key, nonce)
    decipher.setAAD(aad(subject, accessKey))
    decipher.setAuthTag(body.subarray(body.length - TAG_BYTES))
    try {
      return Buffer.concat([decipher.update(body.subarray(0, body.length - TAG_BYTES)), decipher.final()]).toString('utf8')
    } catch {
      throw new Error('stored secret does not open with KEYS_ENCRYPTION_KEY (another key, or a tampered item)')
    }
  }
}

function aad (subject: string, accessKey: string): Buffer {
  return Buffer.from(JSON.stringify([subject, accessKey]), 'utf8')
}
