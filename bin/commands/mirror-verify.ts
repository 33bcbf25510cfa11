// `etcd-warden mirror-verify [mirror flags] SRC DST`: proves a replica is
// exact (or lists how it is not) without writing anything. It takes every
// flag `etcd-warden mirror` takes (and ETCD_WARDEN_MIRROR_SRC/_DST), so the
// running mirror's arguments can be pasted or expanded from its unit's
// EnvironmentFile as they are; the flags that only matter to a running mirror
// (--reload, --port, --status-host, --on-index-cleared, --idle-renew-ms,
// --log-level) are accepted and ignored. With --api v3 or --src-api v2
// --dst-api v3 it compares the v3 replica.
// Exit 0 equal, 1 different, 2 could not compare or usage.
import { EtcdClient, describeError } from '../../mirror/etcd/client.js';
import type { TlsMaterial } from '../../mirror/etcd/tls.js';
import { joinKey } from '../../mirror/etcd/keys.js';
import { destinationRoot, type KeyMapping } from '../../mirror/key-mapping.js';
import { redactUrl, type MirrorApi } from '../../mirror/options.js';
import { verifyReplica, type VerifyResult } from '../../mirror/verify.js';
import { describeDifference } from '../../mirror/verify-differences.js';
import { integerFlag, runCommand, sideTlsMaterial, switchFlag, type CommandIo } from './flags.js';
import { mirrorApi, mirrorEndpoints, mirrorFlags } from './mirror.js';

export const mirrorVerifyUsage =
  'usage: etcd-warden mirror-verify [the mirror\'s flags] [--wait-ms 30000] [--attempts 3] [--json] SRC_URL DST_URL\n' +
  '  every flag of `etcd-warden mirror` (prefixes, --strip, --src-ignore-keys-regex, --api/--src-api/--dst-api, the TLS files;\n' +
  '  defaults --src-prefix / --dst-prefix /replica); those that only matter to a running mirror are ignored; nothing is written';

const mirrorVerifyFlags = {
  ...mirrorFlags,
  waitMs: integerFlag('--wait-ms').or(30_000),
  attempts: integerFlag('--attempts', { min: 1 }).or(3),
  json: switchFlag('--json'),
};

interface VerifyRequest {
  readonly api: MirrorApi;
  readonly src: string;
  readonly dst: string;
  readonly tls: { readonly src?: TlsMaterial; readonly dst?: TlsMaterial };
  readonly mapping: KeyMapping;
  readonly ignore: RegExp | undefined;
  readonly waitMs: number;
  readonly attempts: number;
  readonly json: boolean;
}

export function mirrorVerifyCommand(argv: readonly string[], io: CommandIo): Promise<number> {
  return runCommand(argv, { name: 'mirror-verify', usage: mirrorVerifyUsage, flags: mirrorVerifyFlags, usageExitCode: 2 }, io, async ({ flags, positional }) => {
    const endpoints = mirrorEndpoints(positional, process.env);
    return verify(
      {
        ...endpoints,
        api: mirrorApi(flags),
        tls: await sideTlsMaterial(flags),
        mapping: { srcPrefix: flags.srcPrefix, dstPrefix: flags.dstPrefix, strip: flags.strip },
        ignore: flags.srcIgnoreKeysRegex,
        waitMs: flags.waitMs,
        attempts: flags.attempts,
        json: flags.json,
      },
      io,
    );
  });
}

/** The comparison itself, by API; the v3 modes load gRPC only when asked for. */
async function compare(request: VerifyRequest): Promise<VerifyResult> {
  const options = { mapping: request.mapping, waitMs: request.waitMs, attempts: request.attempts, ...(request.ignore === undefined ? {} : { ignore: request.ignore }) };
  const v2 = (url: string, tls: TlsMaterial | undefined): EtcdClient => new EtcdClient(url, { connections: 2, ...(tls === undefined ? {} : { tls }) });
  if (request.api === 'v2') {
    const [src, dst] = [v2(request.src, request.tls.src), v2(request.dst, request.tls.dst)];
    try {
      return await verifyReplica(src, dst, options);
    } finally {
      await Promise.all([src.close(), dst.close()]);
    }
  }
  const [{ EtcdV3Client }, { verifyV3, verifyV2ToV3 }] = await Promise.all([import('../../mirror/etcd/v3/client.js'), import('../../mirror/v3/verify.js')]);
  const dst = new EtcdV3Client(request.dst, request.tls.dst === undefined ? {} : { tls: request.tls.dst });
  try {
    if (request.api === 'v3') {
      const src = new EtcdV3Client(request.src, request.tls.src === undefined ? {} : { tls: request.tls.src });
      try {
        return await verifyV3(src, dst, options);
      } finally {
        src.close();
      }
    }
    const src = v2(request.src, request.tls.src);
    try {
      return await verifyV2ToV3(src, dst, options);
    } finally {
      await src.close();
    }
  } finally {
    dst.close();
  }
}

/** How a difference's path names a key on each side: v2 paths below the prefix, v3 paths as the keyspace maps them. */
async function keyNames(request: VerifyRequest): Promise<{ sourceKey(path: string): string; replicaKey(path: string): string; root: string }> {
  if (request.api === 'v2') {
    const root = destinationRoot(request.mapping);
    return { sourceKey: (path) => joinKey(request.mapping.srcPrefix, path), replicaKey: (path) => joinKey(root, path), root };
  }
  const { differenceKeys } = await import('../../mirror/v3/verify.js');
  const keys = differenceKeys(request.mapping);
  return { ...keys, root: keys.replicaKey('') };
}

async function verify(request: VerifyRequest, { out, err }: CommandIo): Promise<number> {
  let result: VerifyResult;
  try {
    result = await compare(request);
  } catch (error) {
    err.write(`etcd-warden mirror-verify: could not compare: ${describeError(error)}\n`);
    return 2;
  }
  const { sourceKey, replicaKey, root } = await keyNames(request);
  const indexWord = request.api === 'v3' ? 'revision' : 'index';
  if (request.json) {
    out.write(JSON.stringify({
      equal: result.equal,
      api: request.api,
      source: { url: redactUrl(request.src), prefix: request.mapping.srcPrefix, index: result.sourceIndex, nodes: result.sourceNodes },
      replica: { url: redactUrl(request.dst), root, replicatedIndex: result.replicatedIndex ?? null, nodes: result.replicaNodes },
      differences: result.differences.map((difference) => ({ ...difference, sourceKey: sourceKey(difference.path), replicaKey: replicaKey(difference.path) })),
      attempts: result.attempts,
      notes: result.notes,
    }) + '\n');
  } else {
    const what = request.api === 'v2' ? 'nodes' : 'keys';
    out.write(`source  ${redactUrl(request.src)} ${request.mapping.srcPrefix}: ${result.sourceNodes} ${what} at ${indexWord} ${result.sourceIndex}\n`);
    out.write(`replica ${redactUrl(request.dst)} ${root}: ${result.replicaNodes} ${what}, replicated ${indexWord} ${result.replicatedIndex ?? 'none'}\n`);
    for (const note of result.notes) out.write(`note: ${note}\n`);
    for (const difference of result.differences) out.write(describeDifference(difference, sourceKey, replicaKey) + '\n');
    out.write(result.equal ? 'equal: the replica holds exactly what the source holds (hidden and ignored keys left out, as the mirror does)\n' : `different: ${result.differences.length} differences\n`);
  }
  return result.equal ? 0 : 1;
}
