// compile(config) → Runtime: what the request path reads. A reload builds a
// whole new Runtime and swaps one reference; a request keeps the Runtime it
// started with.
import type { LoadedConfig } from '../config/load.js';
import { compileAcl } from './acl.js';
import type { AccessPolicy } from './gate.js';
import { Upstream } from './upstream.js';

export interface Runtime {
  readonly loaded: LoadedConfig;
  readonly policy: AccessPolicy;
  readonly upstream: Upstream;
}

export function compileRuntime(loaded: LoadedConfig, previous?: Runtime): Runtime {
  const { config } = loaded;
  return {
    loaded,
    policy: {
      readOnly: config.readOnly,
      writeAcl: compileAcl(config.acls),
      readAcl: compileAcl(config.readAcls),
      admins: new Set(config.admins),
    },
    upstream: previous !== undefined && sameUpstream(previous.loaded, loaded) ? previous.upstream : newUpstream(loaded),
  };
}

function newUpstream(loaded: LoadedConfig): Upstream {
  const { config } = loaded;
  return new Upstream({
    origin: config.upstream,
    connectTimeoutMs: config.timeouts.upstreamConnectMs,
    requestTimeoutMs: config.timeouts.upstreamMs,
    ...(loaded.upstreamCa === undefined || config.upstream.protocol !== 'https:' ? {} : { ca: loaded.upstreamCa }),
  });
}

function sameUpstream(a: LoadedConfig, b: LoadedConfig): boolean {
  return (
    a.config.upstream.origin === b.config.upstream.origin &&
    a.config.timeouts.upstreamConnectMs === b.config.timeouts.upstreamConnectMs &&
    a.config.timeouts.upstreamMs === b.config.timeouts.upstreamMs &&
    (a.upstreamCa?.equals(b.upstreamCa ?? Buffer.alloc(0)) ?? b.upstreamCa === undefined)
  );
}
