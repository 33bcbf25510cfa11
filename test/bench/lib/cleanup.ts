// Everything the bench starts (processes, temp dirs) is registered here and
// torn down in reverse order: after a normal run, after a failure, and on
// Ctrl-C. A bench that leaves an nginx or an etcd behind poisons the next run.
import type { ChildProcess } from 'node:child_process';

type Teardown = () => Promise<void> | void;

const teardowns: { readonly label: string; readonly run: Teardown }[] = [];
const liveChildren = new Set<ChildProcess>();

export function onCleanup(label: string, run: Teardown): void {
  teardowns.push({ label, run });
}

/** Tracked so a crash of the bench itself can still SIGKILL them synchronously on exit. */
export function trackChild(child: ChildProcess): void {
  liveChildren.add(child);
  child.once('exit', () => liveChildren.delete(child));
}

export async function cleanUpAll(): Promise<void> {
  while (teardowns.length > 0) {
    const teardown = teardowns.pop();
    if (teardown === undefined) break;
    try {
      await teardown.run();
    } catch (error) {
      process.stderr.write(`bench: cleanup of ${teardown.label} failed: ${(error as Error).message}\n`);
    }
  }
}

let installed = false;

/** Ctrl-C and SIGTERM run the cleanup; a hard exit still kills what is left. */
export function installCleanupHandlers(): void {
  if (installed) return;
  installed = true;
  const interrupted = (signal: NodeJS.Signals): void => {
    process.stderr.write(`\nbench: ${signal}, cleaning up\n`);
    void cleanUpAll().finally(() => process.exit(130));
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  process.once('exit', () => {
    for (const child of liveChildren) child.kill('SIGKILL');
  });
}
