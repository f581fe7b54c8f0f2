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
  for (let i = 0; i < 250; i++) {
    try {
      await probe.connect();
      break;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
  await probe.ping();
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
