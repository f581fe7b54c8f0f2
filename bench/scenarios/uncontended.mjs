// Scenarios 1 and 4, one contender per process: WORKERS concurrent loops,
// each acquiring and releasing its own key, for a warm-up and then a measured
// window. Reports lock cycles per second, cycle latency (acquire + release),
// the Node CPU time (user + system) spent per cycle, and the Redis servers'
// CPU time per cycle (work a contender does in scripts rather than in Node).
import { Redis } from 'ioredis';
import { scenarioProcess } from '../lib/child.mjs';
import { createContender } from '../lib/contenders.mjs';
import { percentile } from '../lib/stats.mjs';

const { params, ready, started, finish } = scenarioProcess();
const { contender, urls, workers, warmupMs, durationMs } = params;
const TTL = 10_000;

const lock = await createContender(contender, { urls });
// NOTE: a connection of its own per server, read once at each end of the
// window (INFO cpu: the server's user + system seconds, to the microsecond).
const servers = urls.map((url) => new Redis(url));
const redisCpu = async () => {
  let seconds = 0;
  for (const server of servers) {
    const info = await server.info('cpu');
    seconds +=
      Number(/used_cpu_user:([\d.]+)/.exec(info)[1]) +
      Number(/used_cpu_sys:([\d.]+)/.exec(info)[1]);
  }
  return seconds * 1e6;
};
let measuring = false;
let stop = false;
let cycles = 0;
const latencies = [];

async function worker(id) {
  const key = `uncontended:${id}`;
  while (!stop) {
    const startedAt = performance.now();
    const handle = await lock.acquire(key, TTL);
    await lock.release(handle);
    if (measuring) {
      latencies.push(performance.now() - startedAt);
      cycles++;
    }
  }
}

ready();
await started;
const loops = Array.from({ length: workers }, (_, id) => worker(id));
await new Promise((resolve) => setTimeout(resolve, warmupMs));
const requestsBefore = lock.counter.requests;
const redisCpuBefore = await redisCpu();
const cpuBefore = process.cpuUsage();
const startedAt = performance.now();
measuring = true;
await new Promise((resolve) => setTimeout(resolve, durationMs));
measuring = false;
const seconds = (performance.now() - startedAt) / 1000;
const cpu = process.cpuUsage(cpuBefore);
const redisCpuMicros = (await redisCpu()) - redisCpuBefore;
const requests = lock.counter.requests - requestsBefore;
stop = true;
await Promise.all(loops);
finish({
  contender,
  cycles,
  cyclesPerSecond: cycles / seconds,
  p50: percentile(latencies, 50),
  p99: percentile(latencies, 99),
  cpuMicrosPerCycle: (cpu.user + cpu.system) / cycles,
  redisCpuMicrosPerCycle: redisCpuMicros / cycles,
  requestsPerCycle: requests / cycles,
});
