// Scenario processes: every measurement runs in a fresh Node process, so one
// contender's heap, timers and JIT state never weigh on another's. The parent
// and a child talk over the IPC channel:
//   child -> { type: 'ready' }    connected and warmed up
//   parent -> { type: 'start' }   begin the measured window (or the warm-up)
//   parent -> { type: 'measure', from }
//                                 warm-up over: the window opened at `from`
//                                 (contended; performance.timeOrigin + now())
//   parent -> { type: 'stop', to } end it now (contended: the window closed
//                                 at `to`, on the same clock)
//   child -> { type: 'result', ... } then exits
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const here = (name) =>
  fileURLToPath(new URL(`../scenarios/${name}`, import.meta.url));

/** Forks `bench/scenarios/<name>` with JSON `params`. */
export function spawnScenario(name, params, execArgv = []) {
  const child = fork(here(name), [JSON.stringify(params)], {
    execArgv,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const waiting = new Map();
  let exited;
  // NOTE: a child that dies before sending `type` rejects the wait (one
  // that failed to connect would otherwise leave the run waiting forever).
  const next = (type) =>
    Promise.race([
      new Promise((resolve) => waiting.set(type, resolve)),
      exited.then(() => {
        throw new Error(`${name} exited before sending '${type}'`);
      }),
    ]);
  const result = new Promise((resolve, reject) => {
    child.on('message', (message) => {
      if (message.type === 'result') resolve(message);
      waiting.get(message.type)?.(message);
      waiting.delete(message.type);
    });
    child.once('exit', (code) =>
      reject(new Error(`${name} exited (${code}) without a result`)),
    );
    child.once('error', reject);
  });
  result.catch(() => {});
  exited = new Promise((resolve) => {
    child.once('exit', resolve);
    child.once('error', resolve);
  });
  const ready = next('ready');
  ready.catch(() => {});
  return {
    pid: child.pid,
    ready,
    result,
    /** The next message of `type` from the child. */
    next,
    send: (message) => child.connected && child.send(message),
    kill: () => child.exitCode === null && child.kill('SIGKILL'),
  };
}

/** Runs one scenario process to completion and returns its result. */
export async function runScenario(name, params, execArgv) {
  const child = spawnScenario(name, params, execArgv);
  await child.ready;
  child.send({ type: 'start' });
  try {
    return await child.result;
  } finally {
    child.kill();
  }
}

/** In a child: the parameters, and helpers to talk to the parent. */
export function scenarioProcess() {
  const params = JSON.parse(process.argv[2] ?? '{}');
  const message = (type) =>
    new Promise((resolve) =>
      process.on('message', (m) => m.type === type && resolve(m)),
    );
  const started = message('start');
  const measured = message('measure');
  const stopped = message('stop');
  return {
    params,
    started,
    measured,
    stopped,
    ready: (extra = {}) => process.send({ type: 'ready', ...extra }),
    /** Sends the result and exits without waiting for cleanup. */
    finish(result) {
      process.send({ type: 'result', ...result }, () => process.exit(0));
    },
  };
}
