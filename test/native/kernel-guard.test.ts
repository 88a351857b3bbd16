// The kernel guard without /proc/sys: in an unprivileged container /proc/sys
// is read-only, so disable_ipv6 cannot be written. A port taken over there
// must still keep the kernel off it — nothing the kernel originates leaves by
// the port, no IPv6 link-local is (re)generated — while the dataplane's own
// traffic flows; and giving the port back restores the kernel's behaviour.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

import { describeRoot, eventually, Lab, nsTry, nsx } from '../helpers/lab.js';

const root = process.cwd();
const child = join(root, 'test', 'native', 'kernel-guard-child.mjs');
const dataplaneJs = join(root, 'dist', 'dataplane', 'dataplane.js');
const MIRROR_MAC = '02:6b:67:00:00:01';

/** Runs `cmd` in a new mount namespace whose /proc/sys is a read-only bind mount. */
function spawnWithReadOnlyProcSys(cmd: string, args: string[]): ChildProcess {
  const script = 'mount --bind /proc/sys /proc/sys && mount -o remount,bind,ro /proc/sys && exec "$0" "$@"';
  return spawn('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', script, cmd, ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
}

function firstLine(p: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    const rl = createInterface({ input: p.stdout! });
    rl.once('line', (l) => {
      rl.close();
      resolve(l);
    });
    p.once('exit', (code) => reject(new Error(`child exited (${code}) before saying anything`)));
  });
}

const linkDetails = async (ns: string, dev: string): Promise<string> => nsx(ns, 'ip', ['-d', 'link', 'show', 'dev', dev]);
const linkLocal = async (ns: string, dev: string): Promise<string> => (await nsx(ns, 'ip', ['-6', 'addr', 'show', 'dev', dev, 'scope', 'link'])).trim();

describeRoot('kernel guard with /proc/sys read-only', () => {
  const lab = new Lab();
  const procs: ChildProcess[] = [];
  afterEach(async () => {
    for (const p of procs.splice(0)) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    await lab.cleanup();
  });

  it('keeps the kernel silent on the port, forwards, and gives everything back', async () => {
    if (!existsSync(dataplaneJs)) throw new Error(`${dataplaneJs} is missing: run \`npm run build\` first`);
    const peer = await lab.netns('kp');
    const dut = await lab.netns('kd');
    const linux = await lab.netns('kx');
    const [peerDev, port] = await lab.veth(peer, dut, 'g');
    await nsx(peer, 'ethtool', ['-K', peerDev, 'tso', 'off', 'gso', 'off']);
    await nsx(peer, 'ip', ['addr', 'add', '10.77.0.2/24', 'dev', peerDev]);
    const portMac = await lab.mac(dut, port);
    // The kernel already made the port's link-local when the lab brought it up: remove it, so any that appears is new.
    await nsx(dut, 'ip', ['-6', 'addr', 'flush', 'dev', port]);
    expect(await linkDetails(dut, port)).toMatch(/addrgenmode eui64/);

    // Everything the kernel of the dut netns sends by the port carries the port's MAC; the mirror's (Linux's) frames carry MIRROR_MAC.
    // -tt: Unix-time stamps, to count only what was sent while the port was held.
    const capture = spawn('ip', ['netns', 'exec', peer, 'tcpdump', '-l', '-n', '-e', '-tt', '-i', peerDev, 'ether', 'src', portMac], { stdio: ['ignore', 'pipe', 'pipe'] });
    procs.push(capture);
    const fromKernel: { at: number; line: string }[] = [];
    createInterface({ input: capture.stdout! }).on('line', (line) => fromKernel.push({ at: Number(line.split(' ')[0]), line }));
    const sentBetween = (from: number, to: number): string[] => fromKernel.filter((f) => f.at >= from && f.at <= to).map((f) => f.line);
    let captureLog = '';
    capture.stderr!.on('data', (d: Buffer) => (captureLog += d.toString()));
    expect(await eventually(() => captureLog.includes('listening on'), 10_000)).toBe(true);

    const mirror = `kgm${process.pid % 100000}`;
    const agent = spawnWithReadOnlyProcSys(process.execPath, [child, JSON.stringify({ root, portNetns: dut, port, mirrorNetns: linux, mirror, mirrorMac: MIRROR_MAC, address: '10.77.0.1/24' })]);
    procs.push(agent);
    const hello = JSON.parse(await firstLine(agent)) as { ready: boolean; procSysWritable: boolean; error?: string };
    expect(hello).toEqual({ ready: true, procSysWritable: false });
    const heldFrom = Date.now() / 1000; // (the flush above may still be sending MLD leave reports, before this)

    // While held: address generation is off, and the kernel is provoked to send.
    expect(await linkDetails(dut, port)).toMatch(/addrgenmode none/);
    await nsx(dut, 'ip', ['addr', 'add', '2001:db8:77::1/64', 'dev', port]); // DAD, MLD report
    await nsx(dut, 'ip', ['link', 'set', port, 'down']);
    await nsx(dut, 'ip', ['link', 'set', port, 'up']); // a link-local, RS, MLD — if generation were on
    await nsx(dut, 'ip', ['addr', 'add', '10.77.9.1/24', 'dev', port]);
    expect((await nsTry(dut, 'ping', ['-c', '2', '-W', '1', '-I', port, '10.77.9.2'])).code).not.toBe(0); // ARP requests

    // The dataplane still forwards: peer -> port -> punt -> Linux -> inject -> port -> peer.
    await nsx(linux, 'ip', ['addr', 'add', '10.77.0.1/24', 'dev', mirror]);
    await nsx(linux, 'ip', ['link', 'set', mirror, 'up']);
    const ping = await nsTry(peer, 'ping', ['-c', '3', '-i', '0.2', '-W', '2', '10.77.0.1']);
    expect(ping.out).toContain('3 received');

    expect(await linkLocal(dut, port)).toBe('');
    const heldUntil = Date.now() / 1000;
    expect(sentBetween(heldFrom, heldUntil)).toEqual([]);

    // Given back: the old address generation mode, no tc filters of ours, and the kernel's frames leave again.
    agent.stdin!.end();
    expect(await new Promise((r) => agent.once('exit', r))).toBe(0);
    expect(await linkDetails(dut, port)).toMatch(/addrgenmode eui64/);
    for (const dir of ['ingress', 'egress']) expect((await nsx(dut, 'tc', ['filter', 'show', 'dev', port, dir])).trim()).toBe('');
    // (A new neighbour: 10.77.9.2 is FAILED from the held phase.)
    await nsTry(dut, 'ping', ['-c', '1', '-W', '1', '-I', port, '10.77.9.3']);
    expect(await eventually(() => sentBetween(heldUntil, Infinity).some((l) => l.includes('who-has 10.77.9.3')), 10_000)).toBe(true);
  });
});
