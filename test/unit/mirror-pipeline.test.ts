import { describe, expect, it } from 'vitest';
import { ReplicationPipeline } from '../../mirror/pipeline.js';

function harness() {
  const records: number[] = [];
  const pipeline = new ReplicationPipeline(10, {
    maxInFlight: 8,
    recordIndex: async (index) => {
      records.push(index);
    },
    onApplied: () => undefined,
    onFailure: () => undefined,
  });
  return { pipeline, records };
}

const deferred = () => {
  let resolve = (): void => undefined;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
};

describe('ReplicationPipeline', () => {
  it('records only the end of the contiguous applied run', async () => {
    const { pipeline } = harness();
    const slow = deferred();
    await pipeline.push({ index: 11, key: '/a', run: () => slow.promise });
    await pipeline.push({ index: 12, key: '/b', run: async () => undefined });
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(pipeline.appliedIndex).toBe(10);
    slow.resolve();
    await pipeline.drain();
    expect(pipeline.appliedIndex).toBe(12);
    expect(pipeline.recordedIndex).toBe(12);
  });

  it('records the index before a second event on the same key, an ancestor or a descendant', async () => {
    const { pipeline, records } = harness();
    await pipeline.push({ index: 11, key: '/a/b', run: async () => undefined });
    await pipeline.push({ index: 12, key: '/c', run: async () => undefined });
    expect(records).toEqual([]);
    await pipeline.push({ index: 13, key: '/a/b', run: async () => undefined });
    expect(records).toEqual([12]);
    await pipeline.push({ index: 14, key: '/a', subtree: true, run: async () => undefined });
    expect(records).toEqual([12, 13]);
    await pipeline.push({ index: 15, key: '/a/x/y', run: async () => undefined });
    expect(records).toEqual([12, 13, 14]);
  });

  it('lets events on unrelated keys run together', async () => {
    const { pipeline, records } = harness();
    const gates = [deferred(), deferred(), deferred()];
    let running = 0;
    let peak = 0;
    for (const [i, gate] of gates.entries()) {
      await pipeline.push({
        index: 11 + i,
        key: `/k${i}`,
        run: async () => {
          running += 1;
          peak = Math.max(peak, running);
          await gate.promise;
          running -= 1;
        },
      });
    }
    for (const gate of gates) gate.resolve();
    await pipeline.drain();
    expect(peak).toBe(3);
    expect(records).toEqual([13]);
  });

  it('stops at a failed event and reports it on the next push', async () => {
    const { pipeline } = harness();
    await pipeline.push({ index: 11, key: '/a', run: async () => Promise.reject(new Error('diverged')) });
    await new Promise((resolve) => setTimeout(resolve, 0));
    await expect(pipeline.push({ index: 12, key: '/b', run: async () => undefined })).rejects.toThrow('diverged');
    expect(pipeline.appliedIndex).toBe(10);
  });
});
