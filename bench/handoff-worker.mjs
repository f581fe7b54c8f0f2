// One process of the handoff benchmark: WORKERS loops on one key; each one
// that releases steps aside until another has been granted, so every grant
// is a handoff. Prints its grant and release times (wall clock, ms) as JSON.
import { LockManager, RedisLockStore } from '../dist/index.js';

const [url, key, workers, grantsPerWorker] = process.argv.slice(2);
const locks = new LockManager({
  store: new RedisLockStore({ url }),
  prefix: 'bench:',
});
const now = () => performance.timeOrigin + performance.now();
const events = [];
let lastHolder = -1;
let handedOff = Promise.resolve();
let signalHandoff = () => {};

async function worker(id) {
  for (let i = 0; i < Number(grantsPerWorker); i++) {
    if (lastHolder === id) await handedOff;
    const lock = await locks.acquire(key, { ttl: 10_000, waitTimeout: 60_000 });
    events.push({
      type: 'grant',
      at: now(),
      pid: process.pid,
      id,
      fence: lock.fence,
    });
    lastHolder = id;
    signalHandoff();
    handedOff = new Promise((resolve) => (signalHandoff = resolve));
    await new Promise((resolve) => setTimeout(resolve, 1));
    events.push({
      type: 'release',
      at: now(),
      pid: process.pid,
      id,
      fence: lock.fence,
    });
    await lock.release();
  }
}

await Promise.all(
  Array.from({ length: Number(workers) }, (_, id) => worker(id)),
);
signalHandoff();
process.stdout.write(JSON.stringify(events));
await locks.close();
