// `etcd-warden mirror-verify [mirror flags] SRC DST`: proves a replica is
// exact (or lists how it is not) without writing anything. It takes the
// mirror's own flags (--src-prefix, --dst-prefix, --strip,
// --src-ignore-keys-regex, and ETCD_WARDEN_MIRROR_SRC/_DST), so an operator
// can paste the arguments of the running mirror's unit.
// Exit 0 equal, 1 different, 2 could not compare or usage.
import { EtcdClient, describeError } from '../../mirror/etcd/client.js';
import { joinKey } from '../../mirror/etcd/keys.js';
import { destinationRoot } from '../../mirror/key-mapping.js';
import { redactUrl } from '../../mirror/options.js';
import { integerFlag, runCommand, switchFlag, type CommandIo } from './flags.js';
import { mirrorEndpoints, mirrorMappingFlags } from './mirror.js';
import { verifyReplica, type VerifyResult } from '../../mirror/verify.js';
import { describeDifference } from '../../mirror/verify-differences.js';

export const mirrorVerifyUsage =
  'usage: etcd-warden mirror-verify [--src-prefix P] [--dst-prefix P] [--strip] [--src-ignore-keys-regex RE]\n' +
  '                                 [--wait-ms 30000] [--attempts 3] [--json] SRC_URL DST_URL\n' +
  '  the same prefixes and flags as the mirror (defaults --src-prefix / --dst-prefix /replica); nothing is written';

const mirrorVerifyFlags = {
  ...mirrorMappingFlags,
  waitMs: integerFlag('--wait-ms').or(30_000),
  attempts: integerFlag('--attempts', { min: 1 }).or(3),
  json: switchFlag('--json'),
};

export function mirrorVerifyCommand(argv: readonly string[], io: CommandIo): Promise<number> {
  return runCommand(argv, { name: 'mirror-verify', usage: mirrorVerifyUsage, flags: mirrorVerifyFlags, usageExitCode: 2 }, io, async ({ flags, positional }) => {
    const endpoints = mirrorEndpoints(positional, process.env);
    return verify({ ...flags, ...endpoints }, io);
  });
}

interface VerifyRequest {
  readonly src: string;
  readonly dst: string;
  readonly srcPrefix: string;
  readonly dstPrefix: string;
  readonly strip: boolean;
  readonly srcIgnoreKeysRegex: RegExp | undefined;
  readonly waitMs: number;
  readonly attempts: number;
  readonly json: boolean;
}

async function verify(options: VerifyRequest, { out, err }: CommandIo): Promise<number> {
  const mapping = { srcPrefix: options.srcPrefix, dstPrefix: options.dstPrefix, strip: options.strip };
  const src = new EtcdClient(options.src, { connections: 2 });
  const dst = new EtcdClient(options.dst, { connections: 2 });
  let result: VerifyResult;
  try {
    result = await verifyReplica(src, dst, {
      mapping,
      waitMs: options.waitMs,
      attempts: options.attempts,
      ...(options.srcIgnoreKeysRegex === undefined ? {} : { ignore: options.srcIgnoreKeysRegex }),
    });
  } catch (error) {
    err.write(`etcd-warden mirror-verify: could not compare: ${describeError(error)}\n`);
    return 2;
  } finally {
    await Promise.all([src.close(), dst.close()]);
  }
  const dstRoot = destinationRoot(mapping);
  const sourceKey = (path: string): string => joinKey(options.srcPrefix, path);
  const replicaKey = (path: string): string => joinKey(dstRoot, path);
  if (options.json) {
    out.write(JSON.stringify({
      equal: result.equal,
      source: { url: redactUrl(options.src), prefix: options.srcPrefix, index: result.sourceIndex, nodes: result.sourceNodes },
      replica: { url: redactUrl(options.dst), root: dstRoot, replicatedIndex: result.replicatedIndex ?? null, nodes: result.replicaNodes },
      differences: result.differences.map((difference) => ({ ...difference, sourceKey: sourceKey(difference.path), replicaKey: replicaKey(difference.path) })),
      attempts: result.attempts,
      notes: result.notes,
    }) + '\n');
  } else {
    out.write(`source  ${redactUrl(options.src)} ${options.srcPrefix}: ${result.sourceNodes} nodes at index ${result.sourceIndex}\n`);
    out.write(`replica ${redactUrl(options.dst)} ${dstRoot}: ${result.replicaNodes} nodes, replicated index ${result.replicatedIndex ?? 'none'}\n`);
    for (const note of result.notes) out.write(`note: ${note}\n`);
    for (const difference of result.differences) out.write(describeDifference(difference, sourceKey, replicaKey) + '\n');
    out.write(result.equal ? 'equal: the replica holds exactly what the source holds (hidden and ignored keys left out, as the mirror does)\n' : `different: ${result.differences.length} differences\n`);
  }
  return result.equal ? 0 : 1;
}
