// How long this machine takes to wake an idle process: the round trip of a
// one-byte loopback TCP ping to an echo process, back to back (both awake)
// and after 10 ms of silence (both idle, as a waiting process is when the
// lock comes to it from another process). Scenario 3 reports it beside the
// cost of turns between processes.
import { fork } from 'node:child_process';
import { connect, createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { median } from './stats.mjs';

const ECHO = '--echo';

if (process.argv[2] === ECHO) {
  const server = createServer((socket) => {
    socket.setNoDelay(true);
    socket.on('data', (data) => socket.write(data));
  }).listen(0, '127.0.0.1', () => process.send(server.address().port));
}

/** Median round trips in ms: `{ awakeMs, idleMs }` (`pings` of each). */
export async function measureWakeLatency({ pings = 200, idleMs = 10 } = {}) {
  const echo = fork(fileURLToPath(import.meta.url), [ECHO]);
  try {
    const port = await new Promise((resolve, reject) => {
      echo.once('message', resolve);
      echo.once('exit', () => reject(new Error('echo process exited')));
    });
    const socket = connect(port, '127.0.0.1').setNoDelay(true);
    await new Promise((resolve) => socket.once('connect', resolve));
    const roundTrips = async (pause) => {
      const times = [];
      for (let i = 0; i < pings; i++) {
        if (pause) await sleep(pause);
        const sentAt = performance.now();
        const answered = new Promise((resolve) => socket.once('data', resolve));
        socket.write('x');
        await answered;
        times.push(performance.now() - sentAt);
      }
      return median(times);
    };
    await roundTrips(0); // warm-up
    const result = {
      awakeMs: await roundTrips(0),
      idleMs: await roundTrips(idleMs),
    };
    socket.destroy();
    return result;
  } finally {
    echo.kill();
  }
}
