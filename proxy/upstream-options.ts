// Where etcd is and how to reach it, read from the config without the
// request path: the primary of a cluster, check-config and the member-URL
// check need the address, not undici's pools (runtime.ts builds those), so
// they stay light.
import type { LoadedConfig } from '../config/load.js';
import type { UpstreamOptions } from './upstream.js';

/** Where etcd is and how to reach it, from the config. */
export function upstreamOptionsOf(loaded: LoadedConfig): UpstreamOptions {
  const { config } = loaded;
  return {
    origin: config.upstream,
    connectTimeoutMs: config.timeouts.upstreamConnectMs,
    requestTimeoutMs: config.timeouts.upstreamMs,
    ...(loaded.upstreamCa === undefined || config.upstream.protocol !== 'https:' ? {} : { ca: loaded.upstreamCa }),
  };
}
