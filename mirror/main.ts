// One mirror: the two clusters' clients, the loop (loop.ts) and the status
// server (status.ts: /lag and /metrics), started together and stopped
// together. The same code runs standalone and bundled (process.ts).
import type { MirrorLog } from './log.js';
import { v2Client } from './connections.js';
import { replicationIndexKey } from './index-key.js';
import { MirrorLoop, writesInFlight } from './loop.js';
import { redactUrl, type MirrorOptions } from './options.js';
import { startStatusServer } from './status.js';
import type { MirrorExit } from './stop.js';

export type { MirrorExit } from './stop.js';

export interface RunningMirror {
  statusPort: number;
  stop(): Promise<void>;
  done: Promise<MirrorExit>;
}

export async function startMirror(options: MirrorOptions, log: MirrorLog): Promise<RunningMirror> {
  // The prefix watch, the cluster index follower, reads.
  const src = v2Client(options, 'source', log, 4);
  // Every write in flight holds a connection; a few more for index records and reads.
  const dst = v2Client(options, 'destination', log, writesInFlight + 4);
  const loop = new MirrorLoop(src, dst, options, log);
  const status = await startStatusServer(options.statusHost, options.port, { api: 'v2', metrics: loop.metrics, lag: () => loop.lag, stop: () => loop.stopped });
  log.info(
    { port: status.port, host: options.statusHost, src: redactUrl(options.src), dst: redactUrl(options.dst), srcPrefix: options.srcPrefix, dstPrefix: options.dstPrefix, indexKey: replicationIndexKey(options.dstPrefix) },
    'mirror status server listening',
  );
  const done = loop.run();
  return {
    statusPort: status.port,
    done,
    async stop() {
      loop.stop();
      await done;
      await status.close();
      await Promise.all([src.close(), dst.close()]);
    },
  };
}
