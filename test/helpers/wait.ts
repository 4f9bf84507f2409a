/** Waiting in integration tests: for a condition of the system under test, bounded, never for a fixed time alone. */
export const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))

/** Polls `check` every 200 ms until it returns true; fails after `ms` (30 s by default) naming what it waited for. */
export async function waitFor (what: string, check: () => Promise<boolean> | boolean, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms
  while (Date.now() < deadline) {
    if (await check()) return
    await sleep(200)
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}`)
}
