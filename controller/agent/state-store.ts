// A small state file (standalone: under /run/kube-lcp, so it goes away with a
// reboot, as the mirrors do): the restart count, and the mirrors the agent
// created with the addresses it put on them. Kernel devices carry our mark
// (ifalias), but a mark is only found by looking in the right netns: the file
// remembers which netns to look in, so that a pair deleted while the agent was
// down is still cleaned up, and which addresses are ours to remove when a
// pair stops declaring them (addresses someone else added are left alone).
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface MirrorRecord {
  pair: string;
  netns: string;
  name: string;
  /** Addresses the agent applied from the pair's hostConfig. */
  addresses: string[];
}

/**
 * A netdev the agent took over as a port, with what it was like before. The
 * dataplane undoes its guard (tc ingress drop, IPv6 off) when it gives a port
 * back, but an agent that dies cannot, and the next one sees the guard's
 * state as the port's own: this record says how to give it back.
 */
export interface PortRecord {
  netns: string;
  name: string;
  /** disable_ipv6 before the agent took it (-1: no IPv6 there). */
  disableIpv6: number;
  /** IPv6 address generation mode before (the guard sets "none"); absent in older files or without IPv6. */
  addrGenMode?: string;
}

interface StateFile {
  version: 1;
  node: string;
  restartCount: number;
  startTime: string;
  mirrors: Record<string, MirrorRecord>;
  /** Optional: files written before ports were recorded have none. */
  ports?: Record<string, PortRecord>;
}

export const mirrorKey = (netns: string, name: string): string => `${netns}/${name}`;

export class StateStore {
  private data: StateFile;
  readonly file: string;

  /** Loads the file (a missing or unreadable one starts afresh) and counts this start. */
  constructor(dir: string, node: string, now = new Date()) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.file = join(dir, `agent-${node}.state.json`);
    const prev = StateStore.read(this.file);
    this.data = {
      version: 1,
      node,
      restartCount: prev ? prev.restartCount + 1 : 0,
      startTime: now.toISOString(),
      mirrors: prev?.mirrors ?? {},
      ports: prev?.ports ?? {},
    };
    this.save();
  }

  private static read(file: string): StateFile | undefined {
    try {
      const v = JSON.parse(readFileSync(file, 'utf8')) as Partial<StateFile>;
      if (v.version !== 1 || typeof v.restartCount !== 'number' || typeof v.mirrors !== 'object' || v.mirrors === null) return undefined;
      return v as StateFile;
    } catch {
      return undefined;
    }
  }

  get restartCount(): number {
    return this.data.restartCount;
  }

  get startTime(): string {
    return this.data.startTime;
  }

  mirrors(): MirrorRecord[] {
    return Object.values(this.data.mirrors);
  }

  mirror(netns: string, name: string): MirrorRecord | undefined {
    return this.data.mirrors[mirrorKey(netns, name)];
  }

  /** Written before the device is created, so a crash in between still leaves a trace to clean up. */
  recordMirror(rec: MirrorRecord): void {
    const key = mirrorKey(rec.netns, rec.name);
    const old = this.data.mirrors[key];
    if (old && JSON.stringify(old) === JSON.stringify(rec)) return;
    this.data.mirrors[key] = rec;
    this.save();
  }

  forgetMirror(netns: string, name: string): void {
    if (!this.data.mirrors[mirrorKey(netns, name)]) return;
    delete this.data.mirrors[mirrorKey(netns, name)];
    this.save();
  }

  ports(): PortRecord[] {
    return Object.values(this.data.ports ?? {});
  }

  port(netns: string, name: string): PortRecord | undefined {
    return this.data.ports?.[mirrorKey(netns, name)];
  }

  /** Written before the port is taken over, so a crash right after still leaves the record. */
  recordPort(rec: PortRecord): void {
    (this.data.ports ??= {})[mirrorKey(rec.netns, rec.name)] = rec;
    this.save();
  }

  forgetPort(netns: string, name: string): void {
    if (!this.data.ports?.[mirrorKey(netns, name)]) return;
    delete this.data.ports[mirrorKey(netns, name)];
    this.save();
  }

  /** Written to a temporary file and renamed, so a crash never leaves half a file. */
  private save(): void {
    const tmp = `${this.file}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(this.data, null, 1)}\n`, { mode: 0o600 });
    renameSync(tmp, this.file);
  }

  /** Removes the file (the demo cleans up after itself; an agent keeps it). */
  remove(): void {
    rmSync(this.file, { force: true });
  }
}
