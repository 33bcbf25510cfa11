// The bundled mirror's process, started by bundled.ts with its options as
// JSON in ETCD_WARDEN_MIRROR_OPTIONS; it reads the TLS files named there
// (the proxy checked them when it loaded its config), and from there on it is
// the standalone mirror (process.ts).
import { readTlsMaterial } from './etcd/tls.js';
import { decodeMirrorOptions, mirrorOptionsVariable, type MirrorOptions } from './options.js';
import { runMirrorProcess } from './process.js';

async function optionsFromEnvironment(): Promise<MirrorOptions | undefined> {
  const json = process.env[mirrorOptionsVariable];
  try {
    if (json === undefined) throw new Error(`${mirrorOptionsVariable} is not set: this process is started by the proxy (mirror/bundled.ts)`);
    const { tlsPaths, ...options } = decodeMirrorOptions(json);
    const [src, dst] = await Promise.all([tlsPaths.src, tlsPaths.dst].map((paths) => (paths === undefined ? undefined : readTlsMaterial(paths))));
    return { ...options, tls: { ...(src === undefined ? {} : { src }), ...(dst === undefined ? {} : { dst }) } };
  } catch (error) {
    process.stderr.write(`etcd-warden bundled mirror: ${(error as Error).message}\n`);
    return undefined;
  }
}

optionsFromEnvironment().then(
  async (options) => {
    process.exitCode = options === undefined ? 2 : await runMirrorProcess(options);
  },
  (error: unknown) => {
    process.stderr.write(`etcd-warden bundled mirror: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  },
);
