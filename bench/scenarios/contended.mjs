// Scenarios 2, 3 and 8, one process of many: WORKERS loops on one key. Each
// one acquires, runs a read-modify-write on a counter kept on a separate
// Redis server (GET, at least HOLD_MS of work, SET: a lost update means two
// holders overlapped), and releases. In `forced` mode a worker that has just released
// steps aside until another worker of this process has been granted the key,
// so that every grant is a handoff.
//
// Reports every grant of the measured window (who, when asked, when granted,
// when released, on the wall clock shared by all processes), the requests
// sent in it, and overlaps seen in this process. The workers start at
// 'start'; the window is the parent's: 'measure' and 'stop' carry the times
// it opened and closed (after the parent's warm-up, so that code still being
// compiled by the JIT does not count), and a grant counts if it came between
// them, whenever the message reached this process. Critical sections are
// counted over the whole run, like the counter they are checked against.
import { Redis } from 'ioredis';
import { scenarioProcess } from '../lib/child.mjs';
import { createContender } from '../lib/contenders.mjs';

const { params, ready, started, measured, stopped, finish } = scenarioProcess();
const { contender, tuned, url, counterUrl, key, workers, mode, holdMs } =
  params;
const TTL = 10_000;
const now = () => performance.timeOrigin + performance.now();
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const parked = new Int32Array(new SharedArrayBuffer(4));

/**
 * Waits at least `ms` (the work of a critical section). NOTE: a 1 ms timer
 * can fire well before 1 ms has passed on `now()` (Node's timers count whole
 * milliseconds), and how often depends on what else the process's event
 * loop does meanwhile: in scenario 3, 8-12 % of this project's waits ended
 * before 0.9 ms (0.07-0.1 ms short per grant on average) against about 1 %
 * of the peers' (0.01 ms). The rest, under 1 ms, is waited out (blocking),
 * so that every contender's critical section lasts as long.
 */
async function work(ms) {
  const startedAt = now();
  await sleep(ms);
  const left = ms - (now() - startedAt);
  if (left > 0) Atomics.wait(parked, 0, 0, left);
}

const lock = await createContender(contender, { urls: [url], tuned });
const counter = new Redis(counterUrl);
const grants = [];
let stop = false;
let holder = -1;
let overlaps = 0;
let criticalSections = 0;
let lastHolder = -1;
let handedOff = Promise.resolve();
let signalHandoff = () => {};
// NOTE: when a worker asked for the lock, while it waits; a wait still under
// way when the window closes counts too (as a lower bound), or a worker that
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
    await work(holdMs);
    await counter.set('counter', value + 1);
    holder = -1;
    const releasedAt = now();
    // NOTE: every grant, the warm-up's too: the window's bounds are the
    // parent's, known here only when its messages arrive.
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
const { from } = await measured;
// NOTE: requests are counted from the arrival of 'measure' to that of 'stop'
// (a millisecond or so after the window's bounds): a figure per grant only.
const requestsBefore = lock.counter.requests;
const gaveUpBefore = lock.counter.gaveUp;
const { to } = await stopped;
// Waits under way at the window's end: those still under way now...
const pendingWaits = [...waitingSince.values()]
  .filter((t) => t < to)
  .map((t) => to - t);
stop = true;
signalHandoff();
const requests = lock.counter.requests - requestsBefore;
// Let critical sections under way finish, so the counter is final.
while (holder !== -1) await sleep(1);
// ...and those granted after the window closed, before 'stop' arrived.
for (const grant of grants)
  if (grant.requestedAt < to && grant.grantedAt >= to)
    pendingWaits.push(to - grant.requestedAt);
finish({
  grants: grants.filter(
    (grant) => grant.grantedAt >= from && grant.grantedAt < to,
  ),
  pendingWaits,
  requests,
  gaveUp: lock.counter.gaveUp - gaveUpBefore,
  overlaps,
  criticalSections,
});
