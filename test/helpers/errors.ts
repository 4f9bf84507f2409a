import { ApiError } from '../../plugins/errors/errors.js'

/** The ApiError a promise rejects with (fails loudly if it resolves or throws something else). */
export async function caught (p: Promise<unknown>): Promise<ApiError> {
  try {
    await p
  } catch (err) {
    if (err instanceof ApiError) return err
    throw err
  }
  throw new Error('expected a rejection')
}
