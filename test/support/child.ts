import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const running = new Set<ChildProcess>();

/**
 * A fixture script under test/fixtures, run with node in its own process.
 * A fixture still running when its test ends is killed (a failed test must
 * not leave a process that keeps jest from exiting).
 */
export function runFixture(
  name: string,
  args: readonly (string | number)[],
): ChildProcess {
  const script = fileURLToPath(new URL(`../fixtures/${name}`, import.meta.url));
  const child = spawn(process.execPath, [script, ...args.map(String)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  child.once('exit', () => running.delete(child));
  return child;
}

afterEach(() => {
  for (const child of running) child.kill('SIGKILL');
  running.clear();
});

/** Resolves with the exit code; rejects with stderr if the process failed. */
export function exited(child: ChildProcess): Promise<number> {
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve, reject) => {
    child.once('exit', (code, signal) => {
      if (code === 0) resolve(0);
      else
        reject(new Error(`fixture exited with ${code ?? signal}: ${stderr}`));
    });
  });
}

/** Collects the JSON lines a fixture prints, and waits for one that matches. */
export function events(child: ChildProcess): {
  next(event: string, timeoutMs?: number): Promise<Record<string, unknown>>;
} {
  const seen: Array<Record<string, unknown>> = [];
  const waiting: Array<{
    event: string;
    resolve: (value: Record<string, unknown>) => void;
  }> = [];
  let buffer = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    buffer += chunk.toString();
    let newline: number;
    while ((newline = buffer.indexOf('\n')) >= 0) {
      const line = JSON.parse(buffer.slice(0, newline)) as Record<
        string,
        unknown
      >;
      buffer = buffer.slice(newline + 1);
      seen.push(line);
      for (const waiter of waiting.filter((w) => w.event === line.event)) {
        waiting.splice(waiting.indexOf(waiter), 1);
        waiter.resolve(line);
      }
    }
  });
  return {
    next(event, timeoutMs = 10_000) {
      const found = seen.find((line) => line.event === event);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`no "${event}" event within ${timeoutMs} ms`)),
          timeoutMs,
        );
        waiting.push({
          event,
          resolve: (value) => (clearTimeout(timer), resolve(value)),
        });
      });
    },
  };
}
