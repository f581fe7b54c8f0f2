/**
 * `call()`'s promise, with a synchronous throw turned into a rejection: for
 * calls into code that should return a promise but may throw instead (a
 * custom store, a wrapped client), on paths written with `then` rather than
 * `async`, where a throw would otherwise escape. @internal
 */
export function callAsync<T>(call: () => Promise<T>): Promise<T> {
  try {
    return call();
  } catch (error) {
    return Promise.reject(error);
  }
}
