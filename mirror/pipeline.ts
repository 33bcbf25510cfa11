// Applies events concurrently while keeping the two properties restart safety
// needs:
// 1. The recorded index only ever covers events that are all applied (it is
//    the end of the contiguous applied run, not the newest one).
// 2. Between two index records, no two events touch the same key, an
//    ancestor or a descendant. So after a SIGKILL every event replayed from
//    the recorded index meets, on its own key, either its prevNode (not yet
//    applied) or its own result (already applied) and the strict check can
//    tell the two apart. An event that would break this waits for everything
//    in flight, records the index, and then goes.
// Independent keys are written in parallel: a destination write costs a raft
// round trip and fsync, and one at a time caps out near 500 events/s.

export interface PipelineItem {
  index: number;
  /** Destination key written, or undefined for items that write nothing. */
  key?: string;
  /** True when the write can affect keys below `key` (directory delete). */
  subtree?: boolean;
  run?: () => Promise<void>;
}

interface Slot {
  item: PipelineItem;
  done: boolean;
}

export interface PipelineOptions {
  maxInFlight: number;
  recordIndex: (index: number) => Promise<void>;
  onApplied: (index: number) => void;
  /** A write failed for good; the caller must stop feeding the pipeline. */
  onFailure: (error: unknown) => void;
}

export class ReplicationPipeline {
  appliedIndex: number;
  recordedIndex: number;
  private readonly order: Slot[] = [];
  private readonly window = new Map<string, number>();
  private readonly unrecorded: PipelineItem[] = [];
  private inFlight = 0;
  private waiters: Array<() => void> = [];
  private recording: Promise<void> | undefined;
  private failure: unknown;

  constructor(
    startIndex: number,
    private readonly options: PipelineOptions,
  ) {
    this.appliedIndex = startIndex;
    this.recordedIndex = startIndex;
  }

  get failed(): unknown {
    return this.failure;
  }

  /** Queues an item in source order; resolves once it is dispatched. */
  async push(item: PipelineItem): Promise<void> {
    this.throwIfFailed();
    if (item.key !== undefined && this.overlaps(item.key, item.subtree === true)) {
      await this.drain();
    }
    while (this.inFlight >= this.options.maxInFlight) {
      await this.nextCompletion();
      this.throwIfFailed();
    }
    const slot: Slot = { item, done: false };
    this.order.push(slot);
    if (item.key !== undefined) this.window.set(item.key, (this.window.get(item.key) ?? 0) + 1);
    if (item.run === undefined) {
      slot.done = true;
      this.advance();
      return;
    }
    this.inFlight += 1;
    item.run().then(
      () => {
        slot.done = true;
        this.inFlight -= 1;
        this.advance();
        this.wake();
      },
      (error: unknown) => {
        this.inFlight -= 1;
        if (this.failure === undefined) {
          this.failure = error;
          this.options.onFailure(error);
        }
        this.wake();
      },
    );
  }

  /** Waits for every dispatched item, then records the applied index. */
  async drain(): Promise<void> {
    while (this.inFlight > 0) await this.nextCompletion();
    this.throwIfFailed();
    await this.record();
  }

  /** Waits for in-flight items to finish or fail, without throwing (used on stop). */
  async settle(): Promise<void> {
    while (this.inFlight > 0) await this.nextCompletion();
    while (this.recording !== undefined) await this.recording.catch(() => undefined);
  }

  /** Records the applied index if it moved (called on a timer and on drain). */
  async record(): Promise<void> {
    while (this.recording !== undefined) await this.recording;
    const target = this.appliedIndex;
    if (target <= this.recordedIndex) {
      this.forget(target);
      return;
    }
    this.recording = this.options.recordIndex(target).then(() => {
      this.recordedIndex = target;
      this.forget(target);
    });
    try {
      await this.recording;
    } finally {
      this.recording = undefined;
    }
  }

  /** Jumps to an index a resync made true and recorded (pipeline must be drained). */
  reset(index: number): void {
    this.appliedIndex = index;
    this.recordedIndex = index;
    this.order.length = 0;
    this.unrecorded.length = 0;
    this.window.clear();
  }

  private forget(upTo: number): void {
    while (this.unrecorded.length > 0 && (this.unrecorded[0]?.index ?? Infinity) <= upTo) {
      const item = this.unrecorded.shift();
      if (item?.key === undefined) continue;
      const count = (this.window.get(item.key) ?? 1) - 1;
      if (count <= 0) this.window.delete(item.key);
      else this.window.set(item.key, count);
    }
  }

  private advance(): void {
    let moved = false;
    while (this.order.length > 0 && this.order[0]?.done === true) {
      const slot = this.order.shift();
      if (slot === undefined) break;
      this.unrecorded.push(slot.item);
      if (slot.item.index > this.appliedIndex) this.appliedIndex = slot.item.index;
      moved = true;
    }
    if (moved) this.options.onApplied(this.appliedIndex);
  }

  private overlaps(key: string, subtree: boolean): boolean {
    if (this.window.size === 0) return false;
    if (this.window.has(key)) return true;
    for (let cut = key.lastIndexOf('/'); cut > 0; cut = key.lastIndexOf('/', cut - 1)) {
      if (this.window.has(key.slice(0, cut))) return true;
    }
    if (subtree) {
      const below = key === '/' ? '/' : key + '/';
      for (const pending of this.window.keys()) if (pending.startsWith(below)) return true;
    }
    return false;
  }

  private nextCompletion(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const resolve of waiters) resolve();
  }

  private throwIfFailed(): void {
    if (this.failure !== undefined) throw this.failure;
  }
}
