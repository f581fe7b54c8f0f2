// Scenarios 2, 3 and 8, one process of many: WORKERS loops on one key. Each
// one acquires, runs a read-modify-write on a counter kept on a separate
// Redis server (GET, HOLD_MS of work, SET: a lost update means two holders
// overlapped), and releases. In `forced` mode a worker that has just released
// steps aside until another worker of this process has been granted the key,
// so that every grant is a handoff.
//
// Reports every grant of the measured window (who, when asked, when granted,
// when released, on the wall clock shared by all processes), the requests
// sent in it, and overlaps seen in this process. The workers start at
// 'start'; the window opens at 'measure' (after the parent's warm-up), so
// that code still being compiled by the JIT does not count. Critical sections
// are counted over the whole run, like the counter they are checked against.
import { Redis } from 'ioredis';
import { scenarioProcess } from '../lib/child.mjs';
import { createContender } from '../lib/contenders.mjs';

const { params, ready, started, measured, stopped, finish } = scenarioProcess();
const { contender, tuned, url, counterUrl, key, workers, mode, holdMs } =
  params;
const TTL = 10_000;
const now = () => performance.timeOrigin + performance.now();
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const lock = await createContender(contender, { urls: [url], tuned });
const counter = new Redis(counterUrl);
const grants = [];
let stop = false;
let holder = -1;
let overlaps = 0;
let criticalSections = 0;
let lastHolder = -1;
let measureStart = Infinity;
let handedOff = Promise.resolve();
let signalHandoff = () => {};
// NOTE: when a worker asked for the lock, while it waits; a wait still under
// way when the run stops counts too (as a lower bound), or a worker that
// starved would simply be missing from the wait figures.
const waitingSince = new Map();

async function worker(id) {
  while (!stop) {
    if (mode === 'forced' && lastHolder === id) await handedOff;
    if (stop) return;
    const requestedAt = now();
    waitingSince.set(id, requestedAt);
    const handle = await lock.acquire(key, TTL);
    waitingSince.delete(id);
    const grantedAt = now();
    if (stop) return void (await lock.release(handle).catch(() => {}));
    if (holder !== -1) overlaps++;
    holder = id;
    lastHolder = id;
    signalHandoff();
    handedOff = new Promise((resolve) => (signalHandoff = resolve));
    criticalSections++;
    const value = Number(await counter.get('counter'));
    await sleep(holdMs);
    await counter.set('counter', value + 1);
    holder = -1;
    const releasedAt = now();
    if (grantedAt >= measureStart)
      grants.push({
        w: `${process.pid}:${id}`,
        requestedAt,
        grantedAt,
        releasedAt,
      });
    await lock.release(handle);
  }
}

ready();
await started;
const loops = Array.from({ length: workers }, (_, id) => worker(id));
// NOTE: a worker that throws would leave its row with fewer contenders and
// nothing in the table to say so: the process fails, and with it the run.
loops.forEach((loop) =>
  loop.catch((error) => {
    console.error(error);
    process.exit(1);
  }),
);
await measured;
measureStart = now();
const requestsBefore = lock.counter.requests;
const gaveUpBefore = lock.counter.gaveUp;
await stopped;
const stoppedAt = now();
const pendingWaits = [...waitingSince.values()].map((t) => stoppedAt - t);
stop = true;
signalHandoff();
const requests = lock.counter.requests - requestsBefore;
// Let critical sections under way finish, so the counter is final.
while (holder !== -1) await sleep(1);
finish({
  grants,
  pendingWaits,
  requests,
  gaveUp: lock.counter.gaveUp - gaveUpBefore,
  overlaps,
  criticalSections,
});
