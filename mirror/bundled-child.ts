// The bundled mirror's process, started by bundled.ts with its options as
// JSON in ETCD_WARDEN_MIRROR_OPTIONS; from there on it is the standalone
// mirror (process.ts).
import { decodeMirrorOptions, mirrorOptionsVariable, type MirrorOptions } from './options.js';
import { runMirrorProcess } from './process.js';

function optionsFromEnvironment(): MirrorOptions | undefined {
  const json = process.env[mirrorOptionsVariable];
  try {
    if (json === undefined) throw new Error(`${mirrorOptionsVariable} is not set: this process is started by the proxy (mirror/bundled.ts)`);
    return decodeMirrorOptions(json);
  } catch (error) {
    process.stderr.write(`etcd-warden bundled mirror: ${(error as Error).message}\n`);
    return undefined;
  }
}

const options = optionsFromEnvironment();
if (options === undefined) process.exitCode = 2;
else {
  runMirrorProcess(options).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(`etcd-warden bundled mirror: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exitCode = 1;
    },
  );
}
