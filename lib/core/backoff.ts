/**
 * Exponential backoff with full jitter: a delay drawn uniformly in
 * [0, min(maxDelay, baseDelay * 2^attempt)), so that many waiters retrying
 * after the same event spread out instead of arriving together.
 */
export function backoffDelay(
  attempt: number,
  baseDelay: number,
  maxDelay: number,
): number {
  const ceiling = Math.min(maxDelay, baseDelay * 2 ** Math.min(attempt, 30));
  return Math.random() * ceiling;
}
