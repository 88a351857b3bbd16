// The devices the agent owns: mirrors it created carry its owner mark in
// their ifalias, and only those may it change or delete.
import type { Host, HostLink } from '../../dataplane/host.js';

/** The ifalias that marks a device as created by the agent with this owner tag. */
export const ownerMark = (tag: string): string => `kube-lcp:${tag}`;

/** Devices in netns carrying our mark. */
export function ownedLinks(host: Host, netns: string, tag: string): HostLink[] {
  return host.links(netns).filter((l) => l.alias === ownerMark(tag));
}

/**
 * Deletes a device only if it still carries our mark (checked right before,
 * so a device someone renamed into the slot is left alone).
 */
export function deleteOwnedLink(host: Host, netns: string, name: string, tag: string): boolean {
  const link = host.link(netns, name);
  if (!link || link.alias !== ownerMark(tag)) return false;
  host.deleteLink(netns, name);
  return true;
}
