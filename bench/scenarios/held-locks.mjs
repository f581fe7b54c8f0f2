// Scenario 7: COUNT locks held at once by one contender (distinct keys, 60 s
// leases, 100 acquisitions in flight). The parent reads Redis `used_memory`
// before and after; this process only takes the locks and keeps them.
import { scenarioProcess } from '../lib/child.mjs';
import { createContender } from '../lib/contenders.mjs';

const { params, ready, started, stopped, finish } = scenarioProcess();
const { contender, url, count } = params;
const lock = await createContender(contender, { urls: [url] });
const held = [];
ready();
await started;
let next = 0;
const loop = async () => {
  while (next < count) held.push(await lock.acquire(`held:${next++}`, 60_000));
};
await Promise.all(Array.from({ length: 100 }, loop));
process.send({ type: 'held', held: held.length });
await stopped;
finish({ held: held.length });
