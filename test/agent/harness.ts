// An agent in-process on a standalone lab, for the agent tests: unique names,
// a temp dir for config/state/socket, short retry and resync periods, and
// everything removed afterwards.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { startStandalone, type RunningAgent, type StandaloneOptions } from '../../controller/agent/standalone.js';
import { ownerTagFor } from '../../controller/agent/agent.js';
import { deleteOwnedLink, ownedLinks } from '../../controller/agent/owned.js';
import { netlinkHost } from '../../dataplane/host.js';
import { makeLogger, silentLogger } from '../../controller/agent/log.js';
import type { PairEntry } from '../../controller/api/node-dataplane.js';
import { buildStandaloneLab, standaloneConfig, type StandaloneLab } from '../../controller/lab/standalone.js';
import { eventually, sh } from '../../controller/lab/netns.js';

export class AgentHarness {
  readonly dir = mkdtempSync(join(tmpdir(), 'lcp-agent-'));
  readonly config = join(this.dir, 'lcp.yaml');
  readonly socket = join(this.dir, 'agent.sock');
  readonly node = `node-${process.pid}-${Math.random().toString(36).slice(2, 7)}`;
  lab!: StandaloneLab;
  running?: RunningAgent;
  private extraNetns: string[] = [];

  async build(peers: number): Promise<this> {
    this.lab = await buildStandaloneLab(peers);
    return this;
  }

  /** The lab's config, with edits made to the YAML text. */
  configText(edit: (yaml: string) => string = (y) => y): string {
    return edit(standaloneConfig(this.lab, this.node));
  }

  write(text: string): void {
    writeFileSync(this.config, text);
  }

  /** Starts the agent on the config file; `extra` overrides or adds options (e.g. a metrics endpoint). */
  async start(extra: Partial<StandaloneOptions> = {}): Promise<RunningAgent> {
    this.running = await startStandalone({
      config: this.config,
      node: { name: this.node, labels: { role: 'test' } },
      stateDir: this.dir,
      socket: this.socket,
      log: process.env.LCP_TEST_LOG ? makeLogger('debug') : silentLogger(),
      debounceMs: 30,
      resyncPeriodMs: 1000,
      driftPeriodMs: 1000,
      retryBaseMs: 50,
      retryMaxMs: 500,
      ...extra,
    });
    return this.running;
  }

  async stop(): Promise<void> {
    await this.running?.stop();
    this.running = undefined;
  }

  get agent() {
    if (!this.running) throw new Error('agent not running');
    return this.running.agent;
  }

  entry(pair: string): PairEntry | undefined {
    return this.agent.nodeDataplane().status?.pairs?.find((p) => p.name === pair);
  }

  ready(pair: string): { status?: string; reason?: string; message?: string } {
    const c = this.entry(pair)?.conditions?.find((x) => x.type === 'Ready');
    return { status: c?.status, reason: c?.reason, message: c?.message };
  }

  /** Waits for the pair's Ready condition to have this status (and reason, if given). */
  async waitReady(pair: string, status: 'True' | 'False' = 'True', reason?: string, timeoutMs = 15_000): Promise<void> {
    const ok = await eventually(() => {
      const r = this.ready(pair);
      return r.status === status && (reason === undefined || r.reason === reason);
    }, timeoutMs, 50);
    if (!ok) throw new Error(`pair ${pair}: wanted Ready=${status}${reason ? ` (${reason})` : ''}, have ${JSON.stringify(this.ready(pair))}`);
  }

  async nodeCondition(type: string): Promise<{ status?: string; reason?: string; message?: string }> {
    const c = this.agent.nodeDataplane().status?.conditions?.find((x) => x.type === type);
    return { status: c?.status, reason: c?.reason, message: c?.message };
  }

  /** A netns made by the test itself (removed at cleanup). */
  trackNetns(name: string): void {
    this.extraNetns.push(name);
  }

  async cleanup(): Promise<void> {
    await this.stop().catch(() => undefined);
    // Mirrors persist when the agent stops. Those in the lab's netns go with it; one made in
    // the host's netns (e.g. with no LinuxControlPlane resolved, defaultNetns is '') would stay.
    const tag = ownerTagFor(this.node);
    for (const link of ownedLinks(netlinkHost, '', tag)) {
      try {
        deleteOwnedLink(netlinkHost, '', link.name, tag);
      } catch {
        // gone meanwhile
      }
    }
    for (const ns of this.extraNetns) await sh('ip', ['netns', 'del', ns]).catch(() => undefined);
    await this.lab?.lab.cleanup();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
