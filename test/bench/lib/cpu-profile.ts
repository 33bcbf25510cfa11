// Reads a V8 .cpuprofile (node --cpu-prof) and says where the time went:
// the functions with the most self time, and self time by package
// (undici, pino, node's own http/tls, our proxy/, GC).
import { readFile } from 'node:fs/promises';
import { renderTable } from './table.js';

interface CallFrame {
  readonly functionName: string;
  readonly url: string;
  readonly lineNumber: number;
}

interface ProfileNode {
  readonly id: number;
  readonly callFrame: CallFrame;
  readonly children?: readonly number[];
}

interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

/** Where a frame's code lives, coarse enough to act on. */
export function areaOf(frame: CallFrame): string {
  const { url, functionName } = frame;
  if (url === '') return functionName.startsWith('(') ? functionName : '(native)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)?.[1];
  if (pkg !== undefined) return pkg;
  if (url.startsWith('node:')) {
    const module = url.slice('node:'.length).replace(/^internal\//, '');
    return `node:${module.split('/').slice(0, 2).join('/').replace(/\.js$/, '')}`;
  }
  const own = /\/dist\/((?:proxy|mirror|config|bin)\/[^?#]*)/.exec(url)?.[1];
  if (own !== undefined) return `etcd-warden ${own.split('/').slice(0, -1).join('/')}/`;
  return url;
}

function shortLocation(frame: CallFrame): string {
  if (frame.url === '') return '';
  const trimmed = frame.url.replace(/^file:\/\/.*?node_modules\//, '').replace(/^file:\/\/.*?\/dist\//, '').replace(/^node:/, 'node:');
  return `${trimmed}:${frame.lineNumber + 1}`;
}

export interface ProfileSummary {
  readonly text: string;
  readonly busyMs: number;
}

export async function summarizeCpuProfile(file: string, top = 15): Promise<ProfileSummary> {
  const profile = JSON.parse(await readFile(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parentOf = new Map<number, ProfileNode>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parentOf.set(child, node);
  // A native frame (writev, the TLS write under it) is charged to the JS code that called it.
  const callerOf = (node: ProfileNode): CallFrame | undefined => {
    for (let up = parentOf.get(node.id); up !== undefined; up = parentOf.get(up.id)) if (up.callFrame.url !== '') return up.callFrame;
    return undefined;
  };
  const selfByFunction = new Map<string, { frame: CallFrame; us: number }>();
  const selfByArea = new Map<string, number>();
  let idleUs = 0;
  let totalUs = 0;
  profile.samples.forEach((id, i) => {
    // timeDeltas[i] is the time since the previous sample: it belongs to sample i-1; close enough per sample.
    const us = profile.timeDeltas[i + 1] ?? profile.timeDeltas[i] ?? 0;
    const node = byId.get(id);
    if (node === undefined) return;
    totalUs += us;
    if (node.callFrame.functionName === '(idle)') {
      idleUs += us;
      return;
    }
    const native = node.callFrame.url === '' && !node.callFrame.functionName.startsWith('(');
    const caller = native ? callerOf(node) : undefined;
    const key = caller === undefined
      ? `${node.callFrame.functionName || '(anonymous)'} ${shortLocation(node.callFrame)}`
      : `${node.callFrame.functionName} (native, from ${caller.functionName || '(anonymous)'} ${shortLocation(caller)})`;
    const entry = selfByFunction.get(key) ?? { frame: node.callFrame, us: 0 };
    entry.us += us;
    selfByFunction.set(key, entry);
    const area = caller === undefined ? areaOf(node.callFrame) : `${areaOf(caller)} (native)`;
    selfByArea.set(area, (selfByArea.get(area) ?? 0) + us);
  });
  const busyUs = totalUs - idleUs;
  const share = (us: number): string => `${((100 * us) / Math.max(busyUs, 1)).toFixed(1)}%`;
  const functions = [...selfByFunction.entries()].sort((a, b) => b[1].us - a[1].us).slice(0, top);
  const areas = [...selfByArea.entries()].sort((a, b) => b[1] - a[1]).slice(0, top);
  const text = [
    `main thread busy ${(busyUs / 1000).toFixed(0)} ms of ${(totalUs / 1000).toFixed(0)} ms sampled (${((100 * busyUs) / Math.max(totalUs, 1)).toFixed(0)}%); shares below are of busy time`,
    '',
    renderTable({
      header: ['self time by package / module', 'share', 'ms'],
      rows: areas.map(([area, us]) => [area, share(us), (us / 1000).toFixed(0)]),
    }),
    '',
    renderTable({
      header: [`top ${top} functions by self time`, 'share', 'ms'],
      rows: functions.map(([key, { us }]) => [key, share(us), (us / 1000).toFixed(0)]),
    }),
  ].join('\n');
  return { text, busyMs: busyUs / 1000 };
}
