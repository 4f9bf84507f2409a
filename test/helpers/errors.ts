import { ApiError } from '../../plugins/errors/errors.js'
import { KafkaError } from '../../plugins/kafka/driver.js'
import { toKafkaApiError } from '../../plugins/kafka/errors.js'

/**
 * The ApiError a promise rejects with (fails loudly if it resolves or throws something else). A KafkaError of
 * the consumer engine is mapped as the root error handler maps it, so tests see the HTTP answer.
 */
export async function caught (p: Promise<unknown>): Promise<ApiError> {
  try {
    await p
  } catch (err) {
    if (err instanceof ApiError) return err
    if (err instanceof KafkaError) return toKafkaApiError(err)
    throw err
  }
  throw new Error('expected a rejection')
}
