// The lock libraries under test, behind one small interface so that every
// scenario drives them the same way:
//
//   const lock = await createContender(name, { urls, tuned });
//   const handle = await lock.acquire(key, ttlMs); // waits while contended
//   await lock.release(handle);
//   lock.counter.requests; // commands sent to Redis (lock clients only)
//   await lock.close();
//
// Each library is used through its intended API with its defaults; `tuned`
// only sets a 10 ms retry delay where the library has one. A library that
// gives up waiting after its own retry budget throws; `acquire` then asks
// again (counted in `gaveUp`), as an application loop would.
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';

// NOTE: each library is imported only by the process that measures it.

/** Contender names, in table order, with a short description each. */
export const CONTENDERS = {
  project:
    'this project (LockManager + RedisLockStore, defaults but a 600 s waitTimeout; RedlockStore on three masters)',
  floor: 'raw ioredis: SET NX PX + compare-and-delete EVALSHA',
  'floor-ap': 'raw floor with enableAutoPipelining',
  redlock: 'redlock 5.0.0-beta.2',
  sesame: '@sesamecare-oss/redlock',
  semaphore: 'redis-semaphore Mutex',
  universal: 'redlock-universal',
};

/** Names that only make sense uncontended (they never wait). */
export const FLOORS = new Set(['floor', 'floor-ap']);

/** What each contender does while waiting, at its defaults and tuned. */
export const RETRY_SETTINGS = {
  project: {
    default:
      'fair queue in Redis: a release grants the next process in line, or passes the lock to a waiter in its own process (at most 8 times in a row while another process waits)',
    tuned: 'same (no retry delay to tune)',
  },
  redlock: {
    default: '200 ms ± 100 ms, 10 retries',
    tuned: '10 ms ± 5 ms, 10 retries',
  },
  sesame: {
    default: '200 ms ± 100 ms, 10 retries',
    tuned: '10 ms ± 5 ms, 10 retries',
  },
  semaphore: {
    default: '10 ms, until 10 s',
    tuned: '10 ms (its default)',
  },
  universal: {
    default: '100 ms, 3 retries',
    tuned: '10 ms, 3 retries',
  },
};

const RELEASE_LUA = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

/**
 * Counts the requests a client sends (every command goes through
 * `sendCommand`, auto-pipelined ones included).
 */
function counted(client, counter) {
  const send = client.sendCommand.bind(client);
  client.sendCommand = (...args) => {
    counter.requests++;
    return send(...args);
  };
  client.on('error', () => {});
  return client;
}

/**
 * Creates a contender. `urls` has one URL (single server) or three (a quorum
 * of independent masters, scenario 4).
 */
export async function createContender(name, { urls, tuned = false }) {
  const quorum = urls.length > 1;
  const counter = { requests: 0, gaveUp: 0 };
  const clients = [];
  const client = (options = {}) => {
    const made = counted(new Redis(urls[clients.length], options), counter);
    clients.push(made);
    return made;
  };
  // NOTE: read the figures through `counter`: spreading `base` below copies
  // values, not getters.
  const base = {
    counter,
    async close() {
      for (const c of clients) c.disconnect();
    },
  };
  // Retries a library that gives up after its own budget.
  const persist = (attempt, isGiveUp) => async (key, ttl) => {
    for (;;) {
      try {
        return await attempt(key, ttl);
      } catch (error) {
        if (!isGiveUp(error)) throw error;
        counter.gaveUp++;
      }
    }
  };

  switch (name) {
    case 'project': {
      const { LockManager, RedisLockStore, RedlockStore } =
        await import('./library.mjs');
      const store = quorum
        ? new RedlockStore({ masters: urls })
        : new RedisLockStore({ url: urls[0] });
      for (const master of quorum ? store.stores : [store])
        counted(master.client, counter);
      const locks = new LockManager({ store, prefix: 'bench:' });
      return {
        ...base,
        locks,
        // NOTE: a wait longer than the default waitTimeout (10 s) would fail
        // the run; the peers' waits that reach their retry budget are asked
        // again instead (`persist`). No wait in the tables comes near it.
        acquire: (key, ttl) =>
          locks.acquire(key, { ttl, waitTimeout: 600_000 }),
        release: (lock) => lock.release(),
        close: () => locks.close(),
      };
    }
    case 'floor':
    case 'floor-ap': {
      const nodes = urls.map(() =>
        client({ enableAutoPipelining: name === 'floor-ap' }),
      );
      const sha = await nodes[0].script('LOAD', RELEASE_LUA);
      for (const node of nodes.slice(1)) await node.script('LOAD', RELEASE_LUA);
      const majority = Math.floor(nodes.length / 2) + 1;
      return {
        ...base,
        async acquire(key, ttl) {
          const token = randomUUID();
          const startedAt = performance.now();
          const replies = await Promise.all(
            nodes.map((node) =>
              node.set(key, token, 'PX', ttl, 'NX').catch(() => null),
            ),
          );
          const granted = replies.filter((r) => r === 'OK').length;
          const validity =
            ttl - (performance.now() - startedAt) - (ttl * 0.01 + 2);
          if (granted >= majority && validity > 0) return { key, token };
          await Promise.all(
            nodes.map((node) => node.evalsha(sha, 1, key, token)),
          );
          throw new Error(`floor: ${key} is held`);
        },
        async release({ key, token }) {
          await Promise.all(
            nodes.map((node) => node.evalsha(sha, 1, key, token)),
          );
        },
      };
    }
    case 'redlock':
    case 'sesame': {
      const Redlock =
        name === 'redlock'
          ? (await import('redlock')).default
          : (await import('@sesamecare-oss/redlock')).Redlock;
      const redlock = new Redlock(
        urls.map(() => client()),
        // NOTE: the jitter is scaled with the delay: the default 100 ms
        // jitter around a 10 ms delay would make the tuned setting slower
        // (242 against 382 acquisitions/s in scenario 2b, measured).
        tuned ? { retryDelay: 10, retryJitter: 5 } : {},
      );
      redlock.on('error', () => {});
      return {
        ...base,
        acquire: persist(
          (key, ttl) => redlock.acquire([key], ttl),
          (error) => error?.name === 'ExecutionError',
        ),
        release: (lock) => lock.release(),
      };
    }
    case 'semaphore': {
      const { Mutex, RedlockMutex, TimeoutError } =
        await import('redis-semaphore');
      const nodes = urls.map(() => client());
      return {
        ...base,
        async acquire(key, ttl) {
          const mutex = quorum
            ? new RedlockMutex(nodes, key, { lockTimeout: ttl })
            : new Mutex(nodes[0], key, { lockTimeout: ttl });
          for (;;) {
            try {
              await mutex.acquire();
              return mutex;
            } catch (error) {
              // NOTE: redis-semaphore's TimeoutError does not set `name`
              // (it reads 'Error'): test the class.
              if (!(error instanceof TimeoutError)) throw error;
              counter.gaveUp++;
            }
          }
        },
        release: (mutex) => mutex.release(),
      };
    }
    case 'universal': {
      const { IoredisAdapter, createLock, createRedlock } =
        await import('redlock-universal');
      const adapters = urls.map(() => new IoredisAdapter(client()));
      const locks = new Map();
      const lockFor = (key, ttl) => {
        let lock = locks.get(key);
        if (!lock) {
          const settings = { key, ttl, ...(tuned ? { retryDelay: 10 } : {}) };
          lock = quorum
            ? createRedlock({ adapters, quorum: 2, ...settings })
            : createLock({ adapter: adapters[0], ...settings });
          locks.set(key, lock);
        }
        return lock;
      };
      return {
        ...base,
        acquire: persist(
          async (key, ttl) => {
            const lock = lockFor(key, ttl);
            return { lock, handle: await lock.acquire() };
          },
          (error) => error?.name === 'LockAcquisitionError',
        ),
        release: ({ lock, handle }) => lock.release(handle),
      };
    }
    default:
      throw new Error(`unknown contender ${name}`);
  }
}
