// Pure: the reverse direction of a mirror, and the config flips a switchover
// leaves to the operator (the tool changes no config file and restarts no
// service: those stay in the operator's hands and their config management).
import { replicationIndexKey } from '../../mirror/index-key.js';
import { destinationRoot, type KeyMapping } from '../../mirror/key-mapping.js';

/**
 * The mirror that carries the new primary back to the old one. The forward
 * mirror put source key K at destinationKey(K); reading that subtree with
 * --strip and writing it under the old source prefix undoes the mapping
 * whether or not the forward mirror stripped.
 */
export function reverseMapping(forward: KeyMapping): KeyMapping {
  return { srcPrefix: destinationRoot(forward), dstPrefix: forward.srcPrefix, strip: true };
}

/** Where the reverse mirror will look for its place, in the old primary. */
export function reverseIndexKey(forward: KeyMapping): string {
  return replicationIndexKey(reverseMapping(forward).dstPrefix);
}

export interface FlipTargets {
  /** Redacted URLs, for printing. */
  readonly oldPrimary: string;
  readonly newPrimary: string;
}

export function remainingFlips(forward: KeyMapping, targets: FlipTargets): string[] {
  const reverse = reverseMapping(forward);
  return [
    `1. Stop the forward mirror (${targets.oldPrimary} -> ${targets.newPrimary}): remove the \`mirror:\` section from the new primary's proxy config and restart etcd-warden there (a reload does not stop it), or \`systemctl stop etcd-warden-mirror\` where it runs standalone. It must be stopped before step 3, or the two mirrors would echo writes back and forth.`,
    `2. Make the new primary writable: \`readOnly: false\` in the proxy config of every member of ${targets.newPrimary}, then \`systemctl reload etcd-warden\` on each (check: etcd-warden health --endpoints ${targets.newPrimary} --proxy-health <its metrics address> --expect-read-only false).`,
    `3. Start the reverse mirror (${targets.newPrimary} -> ${targets.oldPrimary}) WITHOUT --reload; it resumes from the index recorded at ${reverseIndexKey(forward)}:`,
    `   bundled, in the old primary's proxy config: mirror: { src: "${targets.newPrimary}", srcPrefix: ${reverse.srcPrefix}, dstPrefix: ${reverse.dstPrefix}, strip: true }`,
    `   standalone: ETCD_WARDEN_MIRROR_SRC=${targets.newPrimary} ETCD_WARDEN_MIRROR_DST=${targets.oldPrimary} etcd-warden mirror --src-prefix ${reverse.srcPrefix} --dst-prefix ${reverse.dstPrefix} --strip`,
    `4. Check it: etcd-warden mirror-status <its status port>, then etcd-warden mirror-verify --src-prefix ${reverse.srcPrefix} --dst-prefix ${reverse.dstPrefix} --strip ${targets.newPrimary} ${targets.oldPrimary}`,
  ];
}
