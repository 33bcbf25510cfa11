// The etcd part of a datacenter switchover, as checked steps. Each step states
// its precondition, checks it, and (outside --dry-run) refuses to go on when
// it fails, with the reason. The only write is the last step's: the reverse
// replication index on the old primary, what a one-off script did by hand.
import { EtcdApiError, EtcdClient, describeError } from '../../mirror/etcd/client.js';
import { EtcdErrorCode } from '../../mirror/etcd/wire-error.js';
import { replicationIndexKey } from '../../mirror/index-key.js';
import { joinKey } from '../../mirror/etcd/keys.js';
import type { TlsMaterial } from '../../mirror/etcd/tls.js';
import type { KeyMapping } from '../../mirror/key-mapping.js';
import { redactUrl } from '../../mirror/options.js';
import { readMirrorStatus } from './mirror-status-read.js';
import { jsonBody, type Prober } from './probe.js';
import { remainingFlips, reverseIndexKey, reverseMapping } from './switchover-plan.js';
import { describeDifference, differences } from '../../mirror/verify-differences.js';
import { exclusion, readReplicationIndex, replicaTree, sourceTree } from '../../mirror/verify.js';

export interface SwitchoverOptions {
  /** The old primary's etcd client URL itself: the last step writes there, and its proxy refuses writes while read-only. */
  readonly oldPrimary: string;
  readonly newPrimary: string;
  /** The forward mirror's mapping (old primary → new primary). */
  readonly mapping: KeyMapping;
  readonly ignore?: RegExp;
  readonly oldPrimaryProxyHealth: readonly string[];
  readonly assumeReadOnly: boolean;
  readonly mirror?: string;
  readonly timeoutMs: number;
  readonly dryRun: boolean;
  /** TLS for the old primary (the forward mirror's source) and the new one (its destination). */
  readonly tls: { readonly src?: TlsMaterial; readonly dst?: TlsMaterial };
}

/** One prober per kind of peer, each with its TLS: the old primary, the new primary, and the proxies' and mirror's status addresses. */
export interface SwitchoverProbers {
  readonly oldPrimary: Prober;
  readonly newPrimary: Prober;
  readonly status: Prober;
}

type Check = { readonly ok: true; readonly detail: string } | { readonly ok: false; readonly reason: string };
const pass = (detail: string): Check => ({ ok: true, detail });
const fail = (reason: string): Check => ({ ok: false, reason });

interface Context {
  readonly options: SwitchoverOptions;
  readonly probers: SwitchoverProbers;
  readonly oldPrimary: EtcdClient;
  readonly newPrimary: EtcdClient;
  /** The new primary's index at the snapshot that proved both sides equal. */
  reverseIndex?: number;
}

const base = (url: string): string => url.replace(/\/+$/, '');

async function clusterId(prober: Prober, url: string): Promise<string> {
  const answer = await prober.get(`${base(url)}/v2/members`);
  const id = answer.headers['x-etcd-cluster-id'];
  if (answer.status !== 200 || id === undefined) throw new Error(`/v2/members answered HTTP ${answer.status} without X-Etcd-Cluster-Id`);
  return id;
}

async function checkClusters(context: Context): Promise<Check> {
  const { options, probers } = context;
  let ids: [string, string];
  try {
    ids = [await clusterId(probers.oldPrimary, options.oldPrimary), await clusterId(probers.newPrimary, options.newPrimary)];
  } catch (error) {
    return fail(`both clusters must answer: ${describeError(error)}`);
  }
  if (ids[0] === ids[1]) return fail(`--old-primary and --new-primary are the same cluster (${ids[0]})`);
  return pass(`old primary cluster ${ids[0]}, new primary cluster ${ids[1]}`);
}

async function checkReadOnly(context: Context): Promise<Check> {
  const { options, probers: { status: prober } } = context;
  if (options.oldPrimaryProxyHealth.length === 0) {
    // etcd itself has no read-only switch: without the proxy's word the only
    // proof would be a write attempt, which is exactly what must not happen.
    if (options.assumeReadOnly) return pass('NOT VERIFIED: --assume-read-only given, the operator vouches that every proxy of the old primary is read-only');
    return fail('cannot tell whether the old primary is read-only: give --old-primary-proxy-health with the metrics address of every proxy in front of it (or --assume-read-only after checking by hand)');
  }
  const states: string[] = [];
  for (const url of options.oldPrimaryProxyHealth) {
    try {
      const healthUrl = new URL(url);
      if (healthUrl.pathname === '/' || healthUrl.pathname === '') healthUrl.pathname = '/healthz';
      const body = jsonBody(await prober.get(healthUrl.toString())) as { readOnly?: unknown } | undefined;
      if (body?.readOnly !== true) return fail(`the proxy at ${url} reports readOnly ${JSON.stringify(body?.readOnly)}: set readOnly: true in its config and reload it first`);
      states.push(`${url} read-only`);
    } catch (error) {
      return fail(`the proxy at ${url} did not answer: ${describeError(error)}`);
    }
  }
  return pass(states.join(', '));
}

async function checkForwardMirror(context: Context): Promise<Check> {
  const { options, newPrimary, probers: { status: prober } } = context;
  const indexKey = replicationIndexKey(options.mapping.dstPrefix);
  let replicated: number | undefined;
  try {
    replicated = await readReplicationIndex(newPrimary, options.mapping.dstPrefix);
  } catch (error) {
    return fail(`cannot read ${indexKey} on the new primary: ${describeError(error)}`);
  }
  if (replicated === undefined) return fail(`the new primary has no replication index at ${indexKey}: no mirror feeds it with these prefixes (check --src-prefix/--dst-prefix/--strip)`);
  if (options.mirror === undefined) return pass(`${indexKey} = ${replicated} on the new primary (no --mirror given: the mirror's own state is not checked)`);
  try {
    const status = await readMirrorStatus(prober, options.mirror);
    if (status.state !== 'replicating') return fail(`the mirror at ${status.url} is ${status.state}, not replicating`);
    return pass(`${indexKey} = ${replicated} on the new primary; the mirror at ${status.url} is replicating, lag ${status.lag}`);
  } catch (error) {
    return fail(`the mirror at ${options.mirror} did not answer: ${describeError(error)}`);
  }
}

async function checkCaughtUp(context: Context): Promise<Check> {
  const { options, oldPrimary, newPrimary, probers: { status: prober } } = context;
  let last: number;
  try {
    last = (await sourceTree(oldPrimary, options.mapping, () => false)).index;
  } catch (error) {
    return fail(`cannot read the old primary's index: ${describeError(error)}`);
  }
  const deadline = Date.now() + (options.dryRun ? 0 : options.timeoutMs);
  for (;;) {
    let replicated: number | undefined;
    let lag: number | undefined;
    try {
      replicated = await readReplicationIndex(newPrimary, options.mapping.dstPrefix);
      if (options.mirror !== undefined) lag = (await readMirrorStatus(prober, options.mirror)).lag;
    } catch (error) {
      return fail(`cannot read the replication state: ${describeError(error)}`);
    }
    const caughtUp = replicated !== undefined && replicated >= last && (lag === undefined || lag === 0);
    const state = `replicated index ${replicated ?? 'none'} of the old primary's ${last}${lag === undefined ? '' : `, mirror lag ${lag}`}`;
    if (caughtUp) return pass(`lag 0: ${state}`);
    if (Date.now() >= deadline) {
      return fail(options.dryRun ? `not caught up yet (${state}); a real run would wait up to ${options.timeoutMs} ms` : `still not caught up after ${options.timeoutMs} ms (${state}): is the mirror running, and is anything still writing to the old primary?`);
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

async function checkExactCopy(context: Context): Promise<Check> {
  const { options, oldPrimary, newPrimary } = context;
  const reverse = reverseMapping(options.mapping);
  const exclude = exclusion(options.mapping, options.ignore);
  try {
    // Read as the reverse mirror will: the new primary is its source, and
    // the snapshot's index is where that mirror must start.
    const source = await sourceTree(newPrimary, reverse, exclude);
    const replica = await replicaTree(oldPrimary, reverse, exclude);
    const found = differences(source.tree, replica);
    if (found.length > 0) {
      const lines = found.slice(0, 20).map((difference) => describeDifference(difference, (p) => `new:${joinKey(reverse.srcPrefix, p)}`, (p) => `old:${joinKey(reverse.dstPrefix, p)}`));
      return fail(`the two sides differ in ${found.length} places, so nothing is recorded:\n      ${lines.join('\n      ')}${found.length > 20 ? '\n      ...' : ''}`);
    }
    context.reverseIndex = source.index;
    return pass(`${source.tree.size} nodes equal under ${options.mapping.srcPrefix} (old) and ${reverse.srcPrefix} (new), at the new primary's index ${source.index}`);
  } catch (error) {
    return fail(`cannot compare the two sides: ${describeError(error)}`);
  }
}

async function recordReverseIndex(context: Context): Promise<Check> {
  const { options, oldPrimary } = context;
  const key = reverseIndexKey(options.mapping);
  const index = context.reverseIndex;
  if (index === undefined) return fail('no verified index to record (the previous step did not pass)');
  let current: string | undefined;
  try {
    current = (await oldPrimary.read(key))?.value;
  } catch (error) {
    return fail(`cannot read ${key} on the old primary: ${describeError(error)}`);
  }
  const change = `${key} = ${index} on the old primary (now ${current === undefined ? 'absent' : current})`;
  if (options.dryRun) return pass(`would set ${change}`);
  try {
    await oldPrimary.put(key, { value: String(index) });
    const written = (await oldPrimary.read(key))?.value;
    if (written !== String(index)) return fail(`wrote ${key} but read back ${JSON.stringify(written)}`);
  } catch (error) {
    if (error instanceof EtcdApiError && error.wire.errorCode === EtcdErrorCode.RootReadOnly) {
      return fail(`the old primary refused the write as read-only: --old-primary must be the etcd client URL itself (e.g. http://127.0.0.1:2379 on that host), not its proxy`);
    }
    return fail(`could not write ${key}: ${describeError(error)}`);
  }
  return pass(`set ${change}`);
}

const steps: ReadonlyArray<{ title: string; run: (context: Context) => Promise<Check> }> = [
  { title: 'the two URLs are two different clusters', run: checkClusters },
  { title: 'the old primary is read-only', run: checkReadOnly },
  { title: 'a mirror feeds the new primary from the old one', run: checkForwardMirror },
  { title: "the new primary has replicated the old primary's last index", run: checkCaughtUp },
  { title: 'the new primary holds exactly what the old primary holds', run: checkExactCopy },
  { title: 'record the reverse replication index on the old primary', run: recordReverseIndex },
];

/** 0: done (or a dry run whose every check passed); 1: a step refused (or failed in a dry run). */
export async function runSwitchover(options: SwitchoverOptions, probers: SwitchoverProbers, out: NodeJS.WritableStream): Promise<number> {
  const client = (url: string, tls: TlsMaterial | undefined): EtcdClient => new EtcdClient(url, { connections: 2, ...(tls === undefined ? {} : { tls }) });
  const oldPrimary = client(options.oldPrimary, options.tls.src);
  const newPrimary = client(options.newPrimary, options.tls.dst);
  const context: Context = { options, probers, oldPrimary, newPrimary };
  const targets = { oldPrimary: redactUrl(options.oldPrimary), newPrimary: redactUrl(options.newPrimary) };
  out.write(`${options.dryRun ? 'DRY RUN (nothing is written): ' : ''}switchover ${targets.oldPrimary} ${options.mapping.srcPrefix} -> ${targets.newPrimary}\n`);
  let failed = 0;
  try {
    for (const [i, step] of steps.entries()) {
      out.write(`step ${i + 1}/${steps.length}: ${step.title}\n`);
      const check = await step.run(context);
      if (check.ok) {
        out.write(`  ok: ${check.detail}\n`);
        continue;
      }
      failed += 1;
      if (!options.dryRun) {
        out.write(`  REFUSED: ${check.reason}\nrefusing to go on; nothing after this step was done\n`);
        return 1;
      }
      out.write(`  FAILED: ${check.reason}\n`);
    }
  } finally {
    await Promise.all([oldPrimary.close(), newPrimary.close()]);
  }
  out.write(options.dryRun ? `dry run: ${failed === 0 ? 'every check passed' : `${failed} check(s) failed`}; a real run would then leave these flips to you:\n` : 'done. What remains is config, in this order:\n');
  for (const line of remainingFlips(options.mapping, targets)) out.write(`  ${line}\n`);
  return failed === 0 ? 0 : 1;
}
