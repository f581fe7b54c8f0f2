// Scenario 6: a million lock cycles through this project (50 concurrent
// workers, distinct keys), then the heap growth after a full GC and anything
// left behind: active handles and timers, and listeners on the Redis client.
// Run with --expose-gc.
import { scenarioProcess } from '../lib/child.mjs';
import { createContender } from '../lib/contenders.mjs';

const { params, ready, started, finish } = scenarioProcess();
const { url, cycles, workers } = params;
const lock = await createContender('project', { urls: [url] });
const client = lock.locks.store.client;

async function run(total) {
  let next = 0;
  const loop = async () => {
    while (next < total) {
      const handle = await lock.acquire(`memory:${next++ % 10_000}`, 10_000);
      await lock.release(handle);
    }
  };
  await Promise.all(Array.from({ length: workers }, loop));
}

function snapshot() {
  globalThis.gc();
  globalThis.gc();
  const resources = {};
  for (const name of process.getActiveResourcesInfo())
    resources[name] = (resources[name] ?? 0) + 1;
  const listeners = client
    .eventNames()
    .reduce((sum, name) => sum + client.listenerCount(name), 0);
  return { heapUsed: process.memoryUsage().heapUsed, resources, listeners };
}

ready();
await started;
await run(Math.min(20_000, cycles)); // warm-up: JIT, pools, connection buffers
await new Promise((resolve) => setTimeout(resolve, 100));
const before = snapshot();
const startedAt = performance.now();
await run(cycles);
const seconds = (performance.now() - startedAt) / 1000;
await new Promise((resolve) => setTimeout(resolve, 100));
const after = snapshot();
finish({ cycles, seconds, before, after });
