/**
 * close() while work runs under `using` (an application shutting down in the
 * middle of a locked method, a cron job, a stream): the lock must not be
 * handed to another instance while that work still runs. close() waits for
 * it (up to `closeTimeout`), refusing new locks meanwhile; work still
 * running after that loses its lock (its signal aborts) and its lease is
 * left to run out in Redis instead of being released under it.
 */
import {
  LockError,
  LockLostError,
  LockManager,
  MemoryLockStore,
  RedisLockStore,
  type LockManagerOptions,
} from '../../lib/index.js';
import { useRedis } from '../support/redis-fixture.js';

const redis = useRedis();

const managers: LockManager[] = [];
afterEach(async () => {
  await Promise.all(managers.splice(0).map((m) => m.close()));
});
function manager(options: Partial<LockManagerOptions> = {}): LockManager {
  const m = new LockManager({
    store: new RedisLockStore({ url: redis.server.url }),
    ...options,
  });
  managers.push(m);
  return m;
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const outcome = (promise: Promise<unknown>) =>
  promise.then(
    (value) => `resolved: ${String(value)}`,
    (error: unknown) =>
      error instanceof LockLostError
        ? `lost: ${error.reason}`
        : `${(error as Error).name}: ${(error as Error).message}`,
  );

test('close() waits for work under using: the key stays held until the work ends, which completes normally', async () => {
  const a = manager();
  const b = manager();
  let finish!: () => void;
  let entered!: () => void;
  const started = new Promise<void>((resolve) => (entered = resolve));
  const running = a.using('drain:wait', async (lock) => {
    entered();
    await new Promise<void>((resolve) => (finish = resolve));
    return lock.signal.aborted ? 'aborted' : 'not aborted';
  });
  await started; // the work runs under its lock
  let closed = false;
  const closing = a.close().then(() => (closed = true));
  await sleep(100);
  // Another instance cannot take the key while the work runs.
  const during = await b.tryAcquire('drain:wait');
  await during?.release();
  const closedDuring = closed;
  finish();
  const result = await outcome(running);
  await closing;
  const after = await b.tryAcquire('drain:wait');
  await after?.release();
  expect({
    takenDuring: during !== null,
    closedDuring,
    result,
    takenAfter: after !== null,
  }).toEqual({
    takenDuring: false,
    closedDuring: false,
    result: 'resolved: not aborted',
    takenAfter: true,
  });
});

test('while close() waits, new locks are refused but a reentrant call inside the running work proceeds', async () => {
  const a = manager();
  let finish!: () => void;
  let entered!: () => void;
  const started = new Promise<void>((resolve) => (entered = resolve));
  let nested: Promise<string> | undefined;
  const running = a.using('drain:reentrant', async () => {
    entered();
    await new Promise<void>((resolve) => (finish = resolve));
    nested = outcome(a.using('drain:reentrant', () => 'inner'));
    return nested;
  });
  await started; // the work runs under its lock
  const closing = a.close();
  const fresh = await outcome(a.using('drain:other', () => 'fresh'));
  const acquired = await outcome(a.acquire('drain:other'));
  finish();
  const result = await outcome(running);
  await closing;
  expect({ fresh, acquired, result }).toEqual({
    fresh: expect.stringMatching(
      /^LockManagerClosedError: The lock manager is closed/,
    ),
    acquired: expect.stringMatching(
      /^LockManagerClosedError: The lock manager is closed/,
    ),
    result: 'resolved: resolved: inner',
  });
});

test('work still running after closeTimeout loses its lock (signal aborted), and its lease is left to run out rather than released under it', async () => {
  const a = manager({ closeTimeout: 200 });
  const b = manager();
  let finish!: () => void;
  let entered!: () => void;
  const started = new Promise<void>((resolve) => (entered = resolve));
  let abortedAt: number | undefined;
  const running = a.using(
    'drain:timeout',
    async (lock) => {
      lock.signal.addEventListener('abort', () => {
        abortedAt = performance.now();
      });
      entered();
      await new Promise<void>((resolve) => (finish = resolve));
    },
    { ttl: 1500 },
  );
  await started; // the work runs under its lock
  const closeStarted = performance.now();
  await a.close();
  const closeTook = performance.now() - closeStarted;
  // The work still runs: nobody else may take the key before the lease ends.
  const during = await b.tryAcquire('drain:timeout');
  await during?.release();
  finish();
  const result = await outcome(running);
  await sleep(1700);
  const later = await b.tryAcquire('drain:timeout');
  await later?.release();
  expect({
    waitedForTimeout: closeTook >= 190,
    aborted: abortedAt !== undefined,
    takenDuring: during !== null,
    result,
    takenAfterLease: later !== null,
  }).toEqual({
    waitedForTimeout: true,
    aborted: true,
    takenDuring: false,
    result: 'lost: closed',
    takenAfterLease: true,
  });
});

test('closeTimeout 0 does not wait, and a lock held outside using is still released at once', async () => {
  const a = manager({ closeTimeout: 0 });
  const b = manager();
  const handle = await a.acquire('drain:handle');
  let finish!: () => void;
  let entered!: () => void;
  const started = new Promise<void>((resolve) => (entered = resolve));
  const running = a.using('drain:zero', async () => {
    entered();
    await new Promise<void>((resolve) => (finish = resolve));
  });
  await started; // the work runs under its lock
  await a.close();
  const handleKey = await b.tryAcquire('drain:handle');
  await handleKey?.release();
  const runningKey = await b.tryAcquire('drain:zero');
  await runningKey?.release();
  finish();
  expect({
    handleReleased: handleKey !== null,
    handleLost: handle.lostReason,
    runningKeyTaken: runningKey !== null,
    result: await outcome(running),
  }).toEqual({
    handleReleased: true,
    handleLost: 'closed',
    runningKeyTaken: false,
    result: 'lost: closed',
  });
});

test('closeTimeout must be a whole number of ms from 0 to 2^31-1, and the error says so', () => {
  for (const closeTimeout of [-1, 1.5, Number.NaN, '10' as never, 2 ** 31])
    expect(
      () =>
        new LockManager({
          store: new MemoryLockStore(),
          closeTimeout,
        }),
    ).toThrow(/from 0 to 2147483647/);
  expect(
    () => new LockManager({ store: new MemoryLockStore(), closeTimeout: -1 }),
  ).toThrow(LockError);
});
