// Peak resident memory of a process over a stretch of a bench, sampled from
// /proc every 10 ms (VmHWM would be per process life; the bench wants a peak
// per row, and across kill -9 restarts).
import { readFileSync } from 'node:fs';

export class PeakRss {
  private peakKiB = 0;
  private readonly timer: NodeJS.Timeout;

  /** `pid` is asked at each sample: a restarted process is followed. */
  constructor(private readonly pid: () => number | undefined) {
    this.timer = setInterval(() => this.sample(), 10);
  }

  /** The highest RSS seen since the last reset, in MiB. */
  peakMiB(): number {
    this.sample();
    return this.peakKiB / 1024;
  }

  reset(): void {
    this.peakKiB = 0;
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private sample(): void {
    const pid = this.pid();
    if (pid === undefined) return;
    try {
      const kiB = Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
      this.peakKiB = Math.max(this.peakKiB, kiB);
    } catch {
      // the process is gone (killed, restarting)
    }
  }
}
