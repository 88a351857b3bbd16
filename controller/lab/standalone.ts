// A lab for the agent in standalone mode (used by `npm start` and the agent
// tests): like router.ts — peers wired by veths to port netdevs in a "dut"
// netns, mirrors in a "linux" netns — but nothing is opened here: the config
// file this writes says what the agent should build. Peer i is
// 10.<i+1>.0.2/24 and 2001:db8:<i+1>::2/64; its mirror gets .1 / ::1 from the
// pair's hostConfig.
import { stringify } from 'yaml';

import { Lab, nsx, uniq } from './netns.js';

export interface StandalonePeer {
  ns: string;
  dev: string;
  mac: string;
  /** The port netdev (in the dut netns). */
  portDev: string;
  mirror: string;
  pair: string;
  v4: string;
  v6: string;
  gw4: string;
  gw6: string;
}

export interface StandaloneLab {
  lab: Lab;
  linux: string;
  dut: string;
  peers: StandalonePeer[];
}

export async function buildStandaloneLab(n: number): Promise<StandaloneLab> {
  const lab = new Lab();
  try {
    const linux = await lab.netns('lx');
    const dut = await lab.netns('ld');
    await nsx(linux, 'sysctl', ['-q', '-w', 'net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1']);
    const peers: StandalonePeer[] = [];
    for (let i = 0; i < n; i++) {
      const ns = await lab.netns('lp');
      const [dev, portDev] = await lab.veth(ns, dut, 'e');
      // Segment on the peer: a veth would hand the port 64 KiB TSO/GSO frames no wire carries.
      await nsx(ns, 'ethtool', ['-K', dev, 'tso', 'off', 'gso', 'off']);
      const net4 = `10.${i + 1}.0`;
      const net6 = `2001:db8:${i + 1}:`;
      await nsx(ns, 'ip', ['addr', 'add', `${net4}.2/24`, 'dev', dev]);
      await nsx(ns, 'ip', ['addr', 'add', `${net6}:2/64`, 'dev', dev, 'nodad']);
      await nsx(ns, 'ip', ['route', 'add', 'default', 'via', `${net4}.1`]);
      await nsx(ns, 'ip', ['-6', 'route', 'add', 'default', 'via', `${net6}:1`]);
      peers.push({
        ns, dev, mac: await lab.mac(ns, dev), portDev, mirror: uniq('tap'), pair: `peer-${String.fromCharCode(97 + i)}`,
        v4: `${net4}.2`, v6: `${net6}:2`, gw4: `${net4}.1`, gw6: `${net6}:1`,
      });
    }
    return { lab, linux, dut, peers };
  } catch (e) {
    await lab.cleanup();
    throw e;
  }
}

/** The standalone config for the lab: a LinuxControlPlane (mirrors in the linux netns) and one InterfacePair per peer. */
export function standaloneConfig(l: StandaloneLab, node: string, opts: { driver?: 'af_packet' | 'af_xdp' | 'auto' } = {}): string {
  const docs: object[] = [
    {
      apiVersion: 'lcp.kubelcp.io/v1alpha1',
      kind: 'LinuxControlPlane',
      metadata: { name: 'lab' },
      spec: { defaultNetns: l.linux, sync: false },
    },
    ...l.peers.map((p) => ({
      apiVersion: 'lcp.kubelcp.io/v1alpha1',
      kind: 'InterfacePair',
      metadata: { name: p.pair },
      spec: {
        nodeName: node,
        port: { name: p.portDev, netns: l.dut, driver: opts.driver ?? 'af_packet' },
        mirror: { name: p.mirror },
        hostConfig: { addresses: [`${p.gw4}/24`, `${p.gw6}/64`] },
      },
    })),
  ];
  return docs.map((d) => stringify(d)).join('---\n');
}
