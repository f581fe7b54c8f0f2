// Starts a throwaway redis-server on a free loopback port for a benchmark run.
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';

export async function startRedisServer() {
  const port = await new Promise((resolve, reject) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port: free } = probe.address();
      probe.close(() => resolve(free));
    });
    probe.once('error', reject);
  });
  const child = spawn(
    'redis-server',
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
    ],
    {
      stdio: 'ignore',
    },
  );
  child.once('error', (error) => {
    throw new Error(
      `redis-server could not start (${error.message}); install it (apt-get install redis-server)`,
    );
  });
  const url = `redis://127.0.0.1:${port}`;
  const probe = new Redis(url, { lazyConnect: true, retryStrategy: () => 20 });
  probe.on('error', () => {});
  // NOTE: one connect(); ioredis retries by itself every 20 ms until the
  // server listens (a second connect() would only say "already connecting").
  probe.connect().catch(() => {});
  const deadline = performance.now() + 5000;
  while (probe.status !== 'ready') {
    if (
      child.exitCode !== null ||
      child.signalCode !== null ||
      performance.now() > deadline
    ) {
      probe.disconnect();
      child.kill('SIGKILL');
      throw new Error(`redis-server on port ${port} did not start`);
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  // NOTE: the port was free when probed, not necessarily when redis-server
  // bound it: make sure this is the server started here before flushing it.
  const pid = Number(/process_id:(\d+)/.exec(await probe.info('server'))[1]);
  if (pid !== child.pid) {
    probe.disconnect();
    child.kill('SIGKILL');
    throw new Error(`port ${port} is another redis-server's (pid ${pid})`);
  }
  return {
    url,
    client: probe,
    async stop() {
      probe.disconnect();
      child.kill('SIGKILL');
    },
  };
}

/** Commands the server ran since the last CONFIG RESETSTAT, by name and in total (commands run by scripts included). */
export async function commandStats(client) {
  const byCommand = {};
  let total = 0;
  for (const line of (await client.info('commandstats')).split('\n')) {
    const match = /^cmdstat_([^:]+):calls=(\d+)/.exec(line);
    // NOTE: the bench's own INFO and CONFIG RESETSTAT (config|resetstat).
    if (!match || /^(info|config)\b/.test(match[1])) continue;
    byCommand[match[1]] = Number(match[2]);
    total += Number(match[2]);
  }
  return { total, byCommand };
}

/** The server's `used_memory`, in bytes. */
export async function usedMemory(client) {
  const info = await client.info('memory');
  return Number(/used_memory:(\d+)/.exec(info)[1]);
}
