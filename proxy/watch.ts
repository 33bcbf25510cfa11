// Open watches, tracked so shutdown can end them the way a stopping etcd
// does instead of waiting: closing the server would otherwise block until each
// watch gets an event (research finding J: 10.3 s in a test, hours in
// production).
//
// How etcd itself ends a watch when it stops (measured, README "Signals"):
// the connection closes in the middle of the chunked response, without the
// final chunk. python-etcd then raises EtcdConnectionFailed (which client
// code already retries), etcdctl reports "unexpected EOF", curl exits 18.
// An empty, complete 200 (what the proxy used to send) made python-etcd
// raise a plain EtcdException ("Server response was not valid JSON") and
// ended its eternal_watch.
import type { ServerResponse } from 'node:http';
import type { AccessRecord } from './access-log.js';

interface OpenWatch {
  readonly client: ServerResponse;
  readonly access: AccessRecord;
}

export class OpenWatches {
  private readonly open = new Set<OpenWatch>();

  get size(): number {
    return this.open.size;
  }

  /** Tracks a watch until its client response closes. */
  add(client: ServerResponse, access: AccessRecord): void {
    const entry = { client, access };
    this.open.add(entry);
    client.once('close', () => this.open.delete(entry));
  }

  /**
   * Closes every open watch's connection mid-response, as a stopping etcd
   * does; its upstream request stops with it (forward.ts). Resolves once each
   * response has closed, so its access line is written before the process
   * flushes its log and exits.
   */
  cutAll(): Promise<void> {
    const closed: Promise<void>[] = [];
    for (const { client, access } of this.open) {
      access.reason = 'watch cut by shutdown, as a stopping etcd cuts it';
      // Still in the set: its 'close' has not fired yet.
      closed.push(new Promise((resolve) => client.once('close', () => resolve())));
      client.destroy();
    }
    return Promise.all(closed).then(() => undefined);
  }
}
