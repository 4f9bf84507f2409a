/**
 * The Diaspora Python SDK (diaspora-event-sdk, pinned in test/sdk/requirements.txt, unmodified) against the
 * whole app: the pytest suite of test/sdk/ (test/helpers/sdk-suite.ts) against the app listening on a loopback
 * port, with two users of the Globus stand-in.
 *
 * Fails (never skips) when python3 or its venv module is missing, when pytest fails, and when fewer or more
 * tests ran than the suite holds (a module that no longer imports cannot pass for green).
 */
import t from 'tap'
import { randomUUID } from 'node:crypto'
import { build } from '../helpers/app.js'
import { dropTopicsAtEnd, PYTEST_TIMEOUT_MS, runSdkSuite, suiteVenv } from '../helpers/sdk-suite.js'

t.setTimeout(PYTEST_TIMEOUT_MS + 5 * 60_000)

t.test('the Diaspora SDK, unmodified, against the running service', async (t) => {
  const venv = suiteVenv(t)
  if (!venv) return
  const { globus, url } = await build(t, {
    listen: true,
    env: {
      // Room for a batch entry over Kafka's default 1 MiB record limit (the 41302 failure).
      BODY_LIMIT: String(4 * 1048576)
    }
  })
  const users = [randomUUID(), randomUUID()].map(subject => ({ subject, token: globus.userToken(subject) }))
  const [main, other] = users as [typeof users[0], typeof users[0]]

  dropTopicsAtEnd(t, users)

  await runSdkSuite(t, venv, url, main, other)
})
