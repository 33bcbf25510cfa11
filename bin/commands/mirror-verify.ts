// `etcd-warden mirror-verify [mirror flags] SRC DST`: proves a replica is
// exact (or lists how it is not) without writing anything. It takes the
// mirror's own flags (--src-prefix, --dst-prefix, --strip,
// --src-ignore-keys-regex, and ETCD_WARDEN_MIRROR_SRC/_DST), so an operator
// can paste the arguments of the running mirror's unit.
// Exit 0 equal, 1 different, 2 could not compare or usage.
import { EtcdClient, describeError } from '../../mirror/etcd/client.js';
import { joinKey } from '../../mirror/etcd/keys.js';
import { destinationRoot } from '../../mirror/key-mapping.js';
import { parseMirrorArgs, redactUrl } from '../../mirror/options.js';
import { describeDifference } from './mirror-verify-differences.js';
import { verifyReplica, type VerifyResult } from './mirror-verify-compare.js';

export const mirrorVerifyUsage =
  'usage: etcd-warden mirror-verify [--src-prefix P] [--dst-prefix P] [--strip] [--src-ignore-keys-regex RE]\n' +
  '                                 [--wait-ms 30000] [--attempts 3] [--json] SRC_URL DST_URL\n' +
  '  the same prefixes and flags as the mirror (defaults --src-prefix / --dst-prefix /replica); nothing is written';

/** Our own flags, taken out before the rest goes to the mirror's parser. */
function takeOwnFlags(argv: string[]): { rest: string[]; json: boolean; waitMs: number; attempts: number } | { error: string } {
  const rest: string[] = [];
  let json = false;
  let waitMs = 30_000;
  let attempts = 3;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    const [name, inline] = arg.startsWith('--') && arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    if (name === '--json') json = true;
    else if (name === '--wait-ms' || name === '--attempts') {
      const value = Number(inline ?? argv[++i]);
      if (!Number.isInteger(value) || value < (name === '--attempts' ? 1 : 0)) return { error: `${name} needs an integer` };
      if (name === '--wait-ms') waitMs = value;
      else attempts = value;
    } else if (name === '--reload' || name === '--port' || name === '--status-host' || name === '--on-index-cleared' || name === '--idle-renew-ms') {
      return { error: `${name} is a mirror flag that mirror-verify does not use` };
    } else rest.push(arg);
  }
  return { rest, json, waitMs, attempts };
}

export async function mirrorVerifyCommand(argv: string[], out: NodeJS.WritableStream = process.stdout, err: NodeJS.WritableStream = process.stderr): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    out.write(mirrorVerifyUsage + '\n');
    return 0;
  }
  const own = takeOwnFlags(argv);
  if ('error' in own) return usage(err, own.error);
  const options = parseMirrorArgs(own.rest);
  if ('error' in options) return usage(err, options.error);
  const mapping = { srcPrefix: options.srcPrefix, dstPrefix: options.dstPrefix, strip: options.strip };
  const src = new EtcdClient(options.src, { connections: 2 });
  const dst = new EtcdClient(options.dst, { connections: 2 });
  let result: VerifyResult;
  try {
    result = await verifyReplica(src, dst, {
      mapping,
      waitMs: own.waitMs,
      attempts: own.attempts,
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
  if (own.json) {
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

function usage(err: NodeJS.WritableStream, problem: string): number {
  err.write(`etcd-warden mirror-verify: ${problem}\n${mirrorVerifyUsage}\n`);
  return 2;
}
