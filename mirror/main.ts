// One mirror: the two clusters' clients, the loop (loop.ts) and the status
// server (status.ts: /lag and /metrics), started together and stopped
// together. The same code runs standalone and bundled (process.ts).
import type { Logger } from 'pino';
import { EtcdClient } from './etcd/client.js';
import { replicationIndexKey } from './index-key.js';
import { MirrorLoop, writesInFlight, type MirrorExit } from './loop.js';
import { redactUrl, type MirrorOptions } from './options.js';
import { startStatusServer } from './status.js';

export type { MirrorExit } from './loop.js';

export interface RunningMirror {
  statusPort: number;
  stop(): Promise<void>;
  done: Promise<MirrorExit>;
}

export async function startMirror(options: MirrorOptions, log: Logger): Promise<RunningMirror> {
  const src = new EtcdClient(options.src, { connections: 4 });
  // Every write in flight holds a connection; a few more for index records and reads.
  const dst = new EtcdClient(options.dst, { connections: writesInFlight + 4 });
  const loop = new MirrorLoop(src, dst, options, log);
  const status = await startStatusServer(options.statusHost, options.port, loop.metrics, () => loop.lag);
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
