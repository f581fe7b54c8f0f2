// Scenario 6: a million lock cycles through this project (50 concurrent
// workers, a new key every cycle), then the heap growth after a full GC and
// anything left behind: live timers (unref'd ones too), active handles,
// listeners on both Redis connections, and the entries of the engine's and
// the store's per-key and per-lock maps. Run with --expose-gc.
//
// NOTE: every cycle takes a key never used before, in the warm-up too: state
// kept per key would grow with the cycles instead of hiding in keys the
// warm-up already touched.
import { createHook } from 'node:async_hooks';
import { scenarioProcess } from '../lib/child.mjs';
import { createContender } from '../lib/contenders.mjs';

const { params, ready, started, finish } = scenarioProcess();
const { url, cycles, workers } = params;
const lock = await createContender('project', { urls: [url] });
const { locks } = lock;
const { store } = locks;

// Live timers, by id: process.getActiveResourcesInfo() leaves unref'd ones out.
const timers = new Set();
createHook({
  init(id, type) {
    if (type === 'Timeout') timers.add(id);
  },
  destroy(id) {
    timers.delete(id);
  },
}).enable();

async function run(phase, total) {
  let next = 0;
  const loop = async () => {
    while (next < total) {
      const handle = await lock.acquire(`memory:${phase}:${next++}`, 10_000);
      await lock.release(handle);
    }
  };
  await Promise.all(Array.from({ length: workers }, loop));
}

const listenersOn = (client) =>
  client
    ? client
        .eventNames()
        .reduce((sum, name) => sum + client.listenerCount(name), 0)
    : 0;

// NOTE: private fields, read for this check only (the bench is plain JS).
const MAPS = {
  manager: ['held', 'queues', 'inFlight', 'streaks', 'earlyGrants', 'waiting'],
  store: [
    'listeners',
    'subscribing',
    'grantListeners',
    'inFlight',
    'acquires',
    'releases',
  ],
};
function entries() {
  const sizes = {};
  for (const [owner, fields] of Object.entries(MAPS))
    for (const field of fields) {
      const value = (owner === 'manager' ? locks : store)[field];
      sizes[`${owner}.${field}`] = value?.size ?? value?.length ?? 0;
    }
  return sizes;
}

function snapshot() {
  globalThis.gc();
  globalThis.gc();
  const resources = {};
  for (const name of process.getActiveResourcesInfo())
    resources[name] = (resources[name] ?? 0) + 1;
  return {
    heapUsed: process.memoryUsage().heapUsed,
    resources,
    timers: timers.size,
    listeners: listenersOn(store.client) + listenersOn(store.subscriber),
    entries: entries(),
  };
}

ready();
await started;
await run('warm-up', Math.min(20_000, cycles)); // JIT, pools, connection buffers
await new Promise((resolve) => setTimeout(resolve, 100));
const before = snapshot();
const startedAt = performance.now();
await run('measured', cycles);
const seconds = (performance.now() - startedAt) / 1000;
await new Promise((resolve) => setTimeout(resolve, 100));
const after = snapshot();
finish({ cycles, seconds, before, after });
