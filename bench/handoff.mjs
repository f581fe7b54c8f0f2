// Handoff benchmark: how soon after a release the next waiter holds the lock.
//   node bench/handoff.mjs            (after `npm run build`)
// Runs 20 waiters on one key, first in one process, then as 4 processes x 5
// waiters, and prints the release-to-grant gap (p50/p99) and throughput.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { percentile, startRedisServer } from './redis-server.mjs';

const run = promisify(execFile);
const worker = fileURLToPath(new URL('./handoff-worker.mjs', import.meta.url));
const short = process.env.BENCH_SHORT === '1';

async function scenario(server, label, processes, workers, grants) {
  const key = `handoff-${processes}x${workers}`;
  const startedAt = performance.now();
  const outputs = await Promise.all(
    Array.from({ length: processes }, () =>
      run(process.execPath, [worker, server.url, key, workers, grants], {
        maxBuffer: 64 << 20,
      }),
    ),
  );
  const seconds = (performance.now() - startedAt) / 1000;
  const events = outputs
    .flatMap(({ stdout }) => JSON.parse(stdout))
    .sort((a, b) => a.fence - b.fence || (a.type === 'grant' ? -1 : 1));
  const gaps = [];
  let sameWorker = 0;
  for (let i = 1; i < events.length; i++) {
    const [prev, next] = [events[i - 1], events[i]];
    if (prev.type === 'release' && next.type === 'grant') {
      gaps.push(next.at - prev.at);
      if (prev.pid === next.pid && prev.id === next.id) sameWorker++;
    }
  }
  const grantsTotal = events.filter((e) => e.type === 'grant').length;
  return {
    scenario: label,
    grants: grantsTotal,
    'grants/s': Math.round(grantsTotal / seconds),
    'gap p50 (ms)': percentile(gaps, 50).toFixed(2),
    'gap p99 (ms)': percentile(gaps, 99).toFixed(2),
    'same worker again': `${((100 * sameWorker) / gaps.length).toFixed(1)} %`,
  };
}

const server = await startRedisServer();
try {
  const grants = short ? 5 : 50;
  const rows = [
    await scenario(server, '1 process x 20 waiters', 1, 20, grants),
    await scenario(server, '4 processes x 5 waiters', 4, 5, grants),
  ];
  console.table(rows);
} finally {
  await server.stop();
}
