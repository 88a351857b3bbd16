// The agent's state file: what it took over and created, kept across
// restarts. A change is one appended journal line (written before the act it
// allows), folded into the file at start and when the journal outgrows it.
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { StateStore } from '../../controller/agent/state-store.js';

describe('agent state store', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'lcp-state-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const mirror = (i: number) => ({ pair: `p${i}`, netns: 'ns1', name: `m${i}`, addresses: [`192.0.2.${i}/32`] });
  const port = (i: number) => ({ netns: 'dut', name: `e${i}`, disableIpv6: 0, addrGenMode: 'eui64' });

  it('keeps records across restarts, counting them, and forgets what was forgotten', () => {
    const a = new StateStore(dir, 'n1');
    a.recordMirror(mirror(1));
    a.recordMirror(mirror(2));
    a.recordPort(port(1));
    a.forgetMirror('ns1', 'm2');
    a.close(); // as a killed agent leaves it: the journal not folded in
    const b = new StateStore(dir, 'n1');
    expect(b.restartCount).toBe(1);
    expect(b.mirrors()).toEqual([mirror(1)]);
    expect(b.ports()).toEqual([port(1)]);
    b.close();
  });

  it('appends a change instead of rewriting the file, and the file alone has everything after a start', () => {
    const a = new StateStore(dir, 'n1');
    const size = statSync(a.file).size;
    for (let i = 0; i < 50; i++) a.recordPort(port(i));
    expect(statSync(a.file).size).toBe(size);
    expect(a.journalLines).toBe(50);
    a.close();
    const b = new StateStore(dir, 'n1'); // folds the journal in
    expect(b.journalLines).toBe(0);
    expect(statSync(b.journal).size).toBe(0);
    expect(Object.keys((JSON.parse(readFileSync(b.file, 'utf8')) as { ports: object }).ports)).toHaveLength(50);
    b.close();
  });

  it('skips a journal line cut short by a crash', () => {
    const a = new StateStore(dir, 'n1');
    a.recordMirror(mirror(1));
    a.close();
    appendFileSync(a.journal, '{"op":"mirror","rec":{"pair":"p9","net'); // died mid-write
    const b = new StateStore(dir, 'n1');
    expect(b.mirrors()).toEqual([mirror(1)]);
    b.close();
  });

  it('folds a long journal into the file by itself, so it stays about the size of the state', () => {
    const a = new StateStore(dir, 'n1');
    for (let i = 0; i < 3000; i++) {
      a.recordPort(port(i % 10));
      a.forgetPort('dut', `e${i % 10}`);
    }
    expect(a.journalLines).toBeLessThan(1000);
    a.close();
    const b = new StateStore(dir, 'n1');
    expect(b.ports()).toEqual([]);
    b.close();
  });

  it('starts afresh from an unreadable file', () => {
    writeFileSync(join(dir, 'agent-n1.state.json'), 'not json');
    const a = new StateStore(dir, 'n1');
    expect(a.restartCount).toBe(0);
    expect(a.mirrors()).toEqual([]);
    a.close();
  });
});
