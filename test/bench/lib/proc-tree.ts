// What a server costs as a whole: nginx is a master and its workers,
// etcd-warden with `workers: N` a primary, N workers and their threads. The
// figures here cover the process and every descendant, from /proc (utime +
// stime of a process already sums all of its threads).
import { readdir, readFile } from 'node:fs/promises';

/** USER_HZ: the unit of utime/stime in /proc/PID/stat; 100 on every Linux the bench runs on. */
const clockTicksPerSecond = 100;

interface ProcStat {
  readonly pid: number;
  readonly comm: string;
  readonly ppid: number;
  readonly cpuTicks: number;
}

async function readStat(pid: number): Promise<ProcStat | undefined> {
  const text = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  // comm may hold spaces and parentheses: the fields after it start at the last ')'.
  const close = text.lastIndexOf(')');
  const comm = text.slice(text.indexOf('(') + 1, close);
  const fields = text.slice(close + 2).split(' ');
  // After comm: state(0) ppid(1) … utime(11) stime(12).
  return { pid, comm, ppid: Number(fields[1]), cpuTicks: Number(fields[11]) + Number(fields[12]) };
}

/** The process and all its descendants that are alive now. */
async function treeStats(rootPid: number): Promise<ProcStat[]> {
  const pids = (await readdir('/proc')).filter((name) => /^\d+$/.test(name)).map(Number);
  const stats = (await Promise.all(pids.map(readStat))).filter((stat): stat is ProcStat => stat !== undefined);
  const children = new Map<number, ProcStat[]>();
  for (const stat of stats) children.set(stat.ppid, [...(children.get(stat.ppid) ?? []), stat]);
  const root = stats.find((stat) => stat.pid === rootPid);
  if (root === undefined) throw new Error(`process ${rootPid} is gone`);
  const tree: ProcStat[] = [];
  const queue = [root];
  for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
    tree.push(next);
    queue.push(...(children.get(next.pid) ?? []));
  }
  return tree;
}

/** CPU time (user + system, all threads) of the process tree so far, in seconds. */
export async function treeCpuSeconds(rootPid: number): Promise<number> {
  return (await treeStats(rootPid)).reduce((sum, stat) => sum + stat.cpuTicks, 0) / clockTicksPerSecond;
}

export interface TreeRss {
  readonly totalBytes: number;
  /** Root first, then its descendants breadth-first. */
  readonly processes: readonly { readonly pid: number; readonly comm: string; readonly bytes: number }[];
}

async function residentKiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  return Number(/^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1] ?? 0);
}

/** VmRSS of every process in the tree, and their sum (shared pages count once per process, as `ps` shows them). */
export async function treeRss(rootPid: number): Promise<TreeRss> {
  const processes = await Promise.all((await treeStats(rootPid)).map(async (stat) => ({ pid: stat.pid, comm: stat.comm, bytes: (await residentKiB(stat.pid)) * 1024 })));
  return { totalBytes: processes.reduce((sum, p) => sum + p.bytes, 0), processes };
}

/** Runs `work` and reports the tree's CPU seconds spent meanwhile (by anyone in it, for any reason). */
export async function withTreeCpu<T>(rootPid: number, work: () => Promise<T>): Promise<{ readonly result: T; readonly cpuSeconds: number }> {
  const before = await treeCpuSeconds(rootPid);
  const result = await work();
  return { result, cpuSeconds: (await treeCpuSeconds(rootPid)) - before };
}
