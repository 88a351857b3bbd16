// A small state file (standalone: under /run/kube-lcp, so it goes away with a
// reboot, as the mirrors do): the restart count, and the mirrors the agent
// created with the addresses it put on them. Kernel devices carry our mark
// (ifalias), but a mark is only found by looking in the right netns: the file
// remembers which netns to look in, so that a pair deleted while the agent was
// down is still cleaned up, and which addresses are ours to remove when a
// pair stops declaring them (addresses someone else added are left alone).
//
// Each change is one appended line of a journal next to the file, not a
// rewrite of the whole file: a record is written before the act it allows
// (take a port, create a mirror), so it must be on disk at once, and with a
// thousand pairs rewriting it all three times per pair cost seconds. The
// journal is folded into the file at start and whenever it outgrows the state.
import { closeSync, ftruncateSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
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
  /** Its MTU before (a pair's MTU is set on the port too); absent in older files. */
  mtu?: number;
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

/** One journal line: a record set or dropped, by key. Replaying is idempotent. */
type JournalOp =
  | { op: 'mirror'; rec: MirrorRecord }
  | { op: 'unmirror'; key: string }
  | { op: 'port'; rec: PortRecord }
  | { op: 'unport'; key: string };

/** Fold the journal into the file once it has this many lines and more than twice the records. */
const COMPACT_MIN_LINES = 1000;

export class StateStore {
  private data: StateFile;
  readonly file: string;
  readonly journal: string;
  private fd: number | undefined;
  private lines = 0;

  /** Loads the file and its journal (a missing or unreadable file starts afresh) and counts this start. */
  constructor(dir: string, node: string, now = new Date()) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.file = join(dir, `agent-${node}.state.json`);
    this.journal = `${this.file}.journal`;
    const prev = StateStore.read(this.file);
    this.data = {
      version: 1,
      node,
      restartCount: prev ? prev.restartCount + 1 : 0,
      startTime: now.toISOString(),
      mirrors: prev?.mirrors ?? {},
      ports: prev?.ports ?? {},
    };
    if (prev) this.replay();
    this.compact();
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

  /** Applies the journal's lines; a line cut short by a crash (the last one) is skipped. */
  private replay(): void {
    let text: string;
    try {
      text = readFileSync(this.journal, 'utf8');
    } catch {
      return;
    }
    for (const line of text.split('\n')) {
      let op: JournalOp;
      try {
        op = JSON.parse(line) as JournalOp;
      } catch {
        continue;
      }
      this.apply(op);
    }
  }

  private apply(op: JournalOp): void {
    const ports = (this.data.ports ??= {});
    if (op.op === 'mirror') this.data.mirrors[mirrorKey(op.rec.netns, op.rec.name)] = op.rec;
    else if (op.op === 'unmirror') delete this.data.mirrors[op.key];
    else if (op.op === 'port') ports[mirrorKey(op.rec.netns, op.rec.name)] = op.rec;
    else if (op.op === 'unport') delete ports[op.key];
  }

  /** Applies a change and appends it to the journal before returning (the caller acts on it next). */
  private log(op: JournalOp): void {
    this.apply(op);
    this.fd ??= openSync(this.journal, 'a', 0o600);
    writeSync(this.fd, `${JSON.stringify(op)}\n`);
    const records = Object.keys(this.data.mirrors).length + Object.keys(this.data.ports ?? {}).length;
    if (++this.lines >= COMPACT_MIN_LINES && this.lines > 2 * records) this.compact();
  }

  /** The whole state to the file (temporary file + rename: never half a file), then an empty journal. */
  private compact(): void {
    const tmp = `${this.file}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(this.data, null, 1)}\n`, { mode: 0o600 });
    renameSync(tmp, this.file);
    // A crash before the truncation replays lines already in the file: harmless, they are idempotent.
    this.fd ??= openSync(this.journal, 'a', 0o600);
    ftruncateSync(this.fd, 0);
    this.lines = 0;
  }

  /** Lines in the journal now (tests). */
  get journalLines(): number {
    return this.lines;
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
    this.log({ op: 'mirror', rec });
  }

  forgetMirror(netns: string, name: string): void {
    if (!this.data.mirrors[mirrorKey(netns, name)]) return;
    this.log({ op: 'unmirror', key: mirrorKey(netns, name) });
  }

  ports(): PortRecord[] {
    return Object.values(this.data.ports ?? {});
  }

  port(netns: string, name: string): PortRecord | undefined {
    return this.data.ports?.[mirrorKey(netns, name)];
  }

  /** Written before the port is taken over, so a crash right after still leaves the record. */
  recordPort(rec: PortRecord): void {
    this.log({ op: 'port', rec });
  }

  forgetPort(netns: string, name: string): void {
    if (!this.data.ports?.[mirrorKey(netns, name)]) return;
    this.log({ op: 'unport', key: mirrorKey(netns, name) });
  }

  /** Closes the journal (the files stay). */
  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  /** Removes the file and its journal (the demo cleans up after itself; an agent keeps them). */
  remove(): void {
    this.close();
    rmSync(this.file, { force: true });
    rmSync(this.journal, { force: true });
  }
}
