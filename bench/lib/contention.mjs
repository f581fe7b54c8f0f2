// The parent side of the contended scenarios (2, 3 and 8): starts PROCESSES
// copies of scenarios/contended.mjs on one key, opens the measured window for
// all of them at once, closes it after a time or a number of grants, and
// turns the grants they report into the figures of the tables.
import { spawnScenario } from './child.mjs';
import { commandStats } from './redis-server.mjs';
import { max, median, percentile } from './stats.mjs';

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * One contended run. `servers` = { lock, counter } (from startRedisServer);
 * the workers contend for `warmupMs` unmeasured (the JIT compiles the hot
 * code of every contender alike), then for `durationMs` measured, or until
 * `targetGrants` more critical sections have completed.
 */
export async function runContended(
  servers,
  {
    contender,
    tuned = false,
    processes,
    workers,
    mode = 'natural',
    holdMs = 1,
    warmupMs = 0,
    durationMs,
    targetGrants = Infinity,
  },
) {
  const { lock, counter } = servers;
  await lock.client.flushall();
  await counter.client.flushall();
  const key = `contended:${contender}:${mode}`;
  const children = Array.from({ length: processes }, () =>
    spawnScenario('contended.mjs', {
      contender,
      tuned,
      url: lock.url,
      counterUrl: counter.url,
      key,
      workers,
      mode,
      holdMs,
    }),
  );
  try {
    await Promise.all(children.map((child) => child.ready));
    for (const child of children) child.send({ type: 'start' });
    if (warmupMs > 0) await sleep(warmupMs);
    const before = Number(await counter.client.get('counter'));
    await lock.client.config('RESETSTAT');
    const startedAt = performance.now();
    // NOTE: the window's bounds go to the children on the clock they share
    // (performance.timeOrigin + now()): each counts the grants between them,
    // whenever the messages reach it, so that the grants counted are those
    // of the `seconds` measured here.
    const from = performance.timeOrigin + startedAt;
    for (const child of children) child.send({ type: 'measure', from });
    while (performance.now() - startedAt < durationMs) {
      await sleep(Math.min(50, durationMs / 10));
      if (
        targetGrants !== Infinity &&
        Number(await counter.client.get('counter')) - before >= targetGrants
      )
        break;
    }
    const endedAt = performance.now();
    const seconds = (endedAt - startedAt) / 1000;
    const to = performance.timeOrigin + endedAt;
    const commands = await commandStats(lock.client);
    for (const child of children) child.send({ type: 'stop', to });
    const results = await Promise.all(children.map((child) => child.result));
    const counted = Number(await counter.client.get('counter'));
    return summarize(results, {
      to,
      seconds,
      commands,
      counted,
      workers: processes * workers,
    });
  } finally {
    for (const child of children) child.kill();
  }
}

/** The process of a grant (`w` is `<pid>:<worker>`). */
const processOf = (grant) => grant.w.slice(0, grant.w.indexOf(':'));

function summarize(results, { to, seconds, commands, counted, workers }) {
  const grants = results
    .flatMap((result) => result.grants)
    .sort((a, b) => a.grantedAt - b.grantedAt);
  const gaps = [];
  const turnGaps = [];
  let sameWorker = 0;
  // NOTE: overlaps in one process are counted by that process over the
  // whole run (warm-up included); across processes, from the grants of the
  // measured window.
  const localOverlaps = results.reduce(
    (sum, result) => sum + result.overlaps,
    0,
  );
  let overlaps = localOverlaps;
  for (let i = 1; i < grants.length; i++) {
    const [previous, next] = [grants[i - 1], grants[i]];
    const gap = next.grantedAt - previous.releasedAt;
    // NOTE: processes on one machine agree on performance.timeOrigin + now()
    // to about a microsecond (measured), and a grant in another process
    // comes at least a loopback round trip after the release it follows:
    // a grant more than 0.05 ms before the previous release is an overlap.
    if (processOf(previous) !== processOf(next)) {
      if (gap < -0.05) overlaps++;
      turnGaps.push(gap);
    }
    gaps.push(gap);
    if (previous.w === next.w) sameWorker++;
  }
  const holds = grants.map((g) => g.releasedAt - g.grantedAt);
  const waits = grants
    .map((g) => g.grantedAt - g.requestedAt)
    .concat(results.flatMap((result) => result.pendingWaits ?? []));
  const sections = results.reduce((sum, r) => sum + r.criticalSections, 0);
  const requests = results.reduce((sum, r) => sum + r.requests, 0);
  const n = grants.length;
  const rate = n / seconds;
  return {
    grants: n,
    seconds,
    rate,
    gapP50: percentile(gaps, 50),
    gapP99: percentile(gaps, 99),
    holdP50: percentile(holds, 50),
    // NOTE: the last section may end after the window: only its part inside
    // the window counts.
    heldShare:
      grants.reduce(
        (sum, g) => sum + Math.min(g.releasedAt, to) - g.grantedAt,
        0,
      ) /
      (seconds * 1000),
    waitP50: percentile(waits, 50),
    waitP99: percentile(waits, 99),
    waitMax: max(waits),
    // NOTE: with every worker served in turn, a waiter waits for the other
    // (workers - 1) grants: the first-come-first-served wait at this rate.
    fcfsWait: ((workers - 1) / rate) * 1000,
    requestsPerGrant: requests / n,
    commandsPerGrant: commands.total / n,
    commands,
    lostUpdates: sections - counted,
    overlaps,
    localOverlaps,
    sameWorkerShare: grants.length > 1 ? sameWorker / (grants.length - 1) : NaN,
    // Grants that went to another process than the previous one, and their
    // gap: a turn between processes wakes one that sat idle.
    turnShare: grants.length > 1 ? turnGaps.length / (grants.length - 1) : NaN,
    turnGapP50: percentile(turnGaps, 50),
    turnGapP99: percentile(turnGaps, 99),
    gaveUp: results.reduce((sum, r) => sum + r.gaveUp, 0),
  };
}

/**
 * Several rounds of one configuration as one row: the median of each figure
 * (rates, percentiles, ratios), the sum of counts (grants, lost updates,
 * overlaps), the largest wait. NOTE: on a shared machine one round can land
 * in a slow spell; a median over rounds interleaved with the other rows
 * keeps that from deciding a ratio.
 */
export function combineRounds(rounds) {
  if (rounds.length === 1) return rounds[0];
  const combined = { rounds: rounds.length };
  for (const [field, value] of Object.entries(rounds[0]))
    if (typeof value === 'number')
      combined[field] = median(rounds.map((round) => round[field]));
  for (const field of [
    'grants',
    'seconds',
    'lostUpdates',
    'overlaps',
    'localOverlaps',
    'gaveUp',
  ])
    combined[field] = rounds.reduce((sum, round) => sum + round[field], 0);
  combined.waitMax = max(rounds.map((round) => round.waitMax));
  return combined;
}
