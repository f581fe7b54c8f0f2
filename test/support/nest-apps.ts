/**
 * Helpers for the e2e specs: Nest applications on Express or Fastify, and a
 * recorder of when each locked section ran.
 */
import type { INestApplication, ModuleMetadata } from '@nestjs/common';
import { ExpressAdapter } from '@nestjs/platform-express';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';

export type Platform = 'express' | 'fastify';

/** Creates and starts an application, ready for supertest. */
export async function createApp(
  platform: Platform,
  metadata: ModuleMetadata,
): Promise<INestApplication> {
  const moduleRef = await Test.createTestingModule(metadata).compile();
  const app = moduleRef.createNestApplication(
    platform === 'express' ? new ExpressAdapter() : new FastifyAdapter(),
    { logger: false },
  );
  await app.init();
  if (platform === 'fastify')
    await (
      app.getHttpAdapter().getInstance() as { ready(): Promise<unknown> }
    ).ready();
  return app;
}

/** One run of a locked section. */
export interface Span {
  readonly label: string;
  readonly enter: number;
  readonly exit: number;
}

/** Records locked sections: when each entered and left. */
export class Timeline {
  readonly spans: Span[] = [];
  /** Labels of the sections that entered, in order (including running ones). */
  readonly entered: string[] = [];
  private readonly gates = new Map<string, Promise<void>>();

  async run<T>(label: string, ms: number, result: T): Promise<T> {
    const enter = performance.now();
    this.entered.push(label);
    await Promise.all([sleep(ms), this.gates.get(label)]);
    this.spans.push({ label, enter, exit: performance.now() });
    return result;
  }

  /**
   * Keeps the sections of `label` from leaving (after their `ms`) until the
   * returned function is called: the test decides how long a lock is held.
   */
  hold(label: string): () => void {
    let open!: () => void;
    this.gates.set(label, new Promise((resolve) => (open = resolve)));
    return () => {
      this.gates.delete(label);
      open();
    };
  }

  of(label: string): Span[] {
    return this.spans
      .filter((span) => span.label === label)
      .sort((a, b) => a.enter - b.enter);
  }
}

/** Sections of one label that overlapped in time (none, under a lock). */
export function overlaps(spans: readonly Span[]): number {
  let count = 0;
  const sorted = [...spans].sort((a, b) => a.enter - b.enter);
  for (let i = 1; i < sorted.length; i++)
    if (sorted[i].enter < sorted[i - 1].exit) count++;
  return count;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

let counter = 0;
/** A key part unique to this process run. */
export function unique(name: string): string {
  return `${name}-${++counter}-${Math.random().toString(36).slice(2, 8)}`;
}
