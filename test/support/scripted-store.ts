import type {
  AcquireResult,
  LockOutcome,
  LockStore,
  ReleaseListener,
} from '../../lib/index.js';

/** A pending answer that the test settles when it likes. */
export interface Deferred<T> {
  readonly promise: Promise<T>;
  resolve(value: T): void;
  reject(error: unknown): void;
}

export function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/**
 * A store whose answers the test gives by hand, one per call, to drive a
 * quorum store through exact sequences (which master answers, when, what).
 * Records every release and lets the test publish release notices.
 */
export class ScriptedStore implements LockStore {
  readonly acquires: Deferred<AcquireResult>[] = [];
  readonly extensions: Deferred<LockOutcome>[] = [];
  readonly releases: Array<{ keys: readonly string[]; token: string }> = [];
  /** The answer to the next releases (the default: `ok`). */
  releaseAnswer: LockOutcome | Error = 'ok';
  private readonly listeners = new Set<ReleaseListener>();
  closed = false;

  acquire(): Promise<AcquireResult> {
    const answer = deferred<AcquireResult>();
    this.acquires.push(answer);
    return answer.promise;
  }

  extend(): Promise<LockOutcome> {
    const answer = deferred<LockOutcome>();
    this.extensions.push(answer);
    return answer.promise;
  }

  async release(keys: readonly string[], token: string): Promise<LockOutcome> {
    this.releases.push({ keys, token });
    if (this.releaseAnswer instanceof Error) throw this.releaseAnswer;
    return this.releaseAnswer;
  }

  async subscribe(
    _keys: readonly string[],
    listener: ReleaseListener,
  ): Promise<() => void> {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Publishes a release notice as a master would. */
  notify(key: string, id: string): void {
    for (const listener of this.listeners) listener(key, id);
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}
