// A real control plane for the end-to-end tests, the way controller-runtime's
// envtest makes one: etcd + kube-apiserver on loopback (no kubelet, no
// controllers), RBAC on, client certificates from a throwaway CA, an admin
// kubeconfig, our CRDs installed and Established. With KUBECONFIG set, the
// same tests run against that cluster instead (kind or any).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ApiextensionsV1Api, KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import { parseAllDocuments, stringify } from 'yaml';
import { applyObject, clusterPath } from '../../controller/k8s/raw.js';
import { clientCert, makePki, type Pki } from './pki.js';
import { freePort, Proc, sleep } from './procs.js';

/** First start may build kube-apiserver (scripts/build-apiserver.sh): give hooks this long. */
export const STARTUP_TIMEOUT_MS = 40 * 60_000;
export const FIELD_MANAGER = 'kube-lcp-e2e';

export interface RestartOptions {
  /**
   * Runs while the apiserver is down, with an admin kubeconfig for a second
   * apiserver on the same etcd; etcd is compacted afterwards, so clients of
   * the first come back to a 410 for their old resourceVersions.
   */
  whileDown?: (kc: KubeConfig) => Promise<void>;
}

export interface TestCluster {
  /** Path of an admin kubeconfig. */
  readonly kubeconfigPath: string;
  /** True when running against $KUBECONFIG rather than our own processes. */
  readonly external: boolean;
  /** A fresh KubeConfig for the admin. */
  adminConfig(): KubeConfig;
  /** A kubeconfig for an ordinary user (subject to RBAC); local clusters only. */
  userConfig(name: string, groups?: string[]): KubeConfig;
  /** Stops kube-apiserver and starts it again on the same port and etcd; local clusters only. */
  restartApiServer(opts?: RestartOptions): Promise<void>;
  stop(): Promise<void>;
}

export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'scripts', 'build-apiserver.sh'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('harness: cannot find the repository root');
    dir = up;
  }
  return dir;
}

/** Cached binary, built on first use (several minutes once per pinned version). */
function kubeApiserverBin(root: string): string {
  const out = execFileSync('bash', [join(root, 'scripts', 'build-apiserver.sh')], {
    stdio: ['ignore', 'pipe', 'inherit'],
    encoding: 'utf8',
    timeout: STARTUP_TIMEOUT_MS,
  });
  const bin = out.trim().split('\n').pop() ?? '';
  return bin.startsWith('/') ? bin : join(root, bin);
}

function etcdBin(): string {
  for (const c of [process.env.ETCD_BIN, '/usr/bin/etcd', '/usr/local/bin/etcd']) if (c && existsSync(c)) return c;
  throw new Error('harness: etcd not found (scripts/setup.sh installs Debian etcd-server; or set ETCD_BIN)');
}

export function kubeconfigYaml(server: string, caPem: string, user: string, cert: string, key: string): string {
  const b64 = (s: string): string => Buffer.from(s).toString('base64');
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'kube-lcp-test', cluster: { server, 'certificate-authority-data': b64(caPem) } }],
    users: [{ name: user, user: { 'client-certificate-data': b64(cert), 'client-key-data': b64(key) } }],
    contexts: [{ name: user, context: { cluster: 'kube-lcp-test', user } }],
    'current-context': user,
  });
}

/** GET path with the admin's client certificate; resolves with the status code (0 = no answer). */
function probe(url: string, ca: string, cert: string, key: string): Promise<number> {
  return new Promise((resolve) => {
    const req = request(url, { ca, cert, key, timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', () => resolve(0));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

class LocalCluster implements TestCluster {
  readonly external = false;
  readonly kubeconfigPath: string;
  private apiserver: Proc | undefined;
  private etcd: Proc | undefined;
  private readonly admin: { cert: string; key: string };

  private constructor(
    private readonly dir: string,
    private readonly pki: Pki,
    private readonly apiserverBin: string,
    private readonly etcdUrl: string,
    private readonly port: number,
  ) {
    this.admin = clientCert(pki, 'kube-lcp-admin', ['system:masters']);
    this.kubeconfigPath = join(dir, 'admin.kubeconfig');
    writeFileSync(this.kubeconfigPath, kubeconfigYaml(this.server, this.caPem, 'kube-lcp-admin', this.admin.cert, this.admin.key), {
      mode: 0o600,
    });
  }

  get server(): string {
    return `https://127.0.0.1:${this.port}`;
  }

  private get caPem(): string {
    return readFileSync(this.pki.caCert, 'utf8');
  }

  static async start(): Promise<LocalCluster> {
    const root = repoRoot();
    const apiserverBin = kubeApiserverBin(root);
    // etcd fsyncs every write: on tmpfs that costs nothing, and it is thrown away anyway.
    const base = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
    const dir = mkdtempSync(join(base, 'kube-lcp-e2e-'));
    let cluster: LocalCluster | undefined;
    let etcd: { proc: Proc; url: string } | undefined;
    try {
      const pki = makePki(dir);
      etcd = await startEtcd(dir);
      cluster = new LocalCluster(dir, pki, apiserverBin, etcd.url, await freePort());
      cluster.etcd = etcd.proc;
      await cluster.startApiServer();
      return cluster;
    } catch (err) {
      await cluster?.apiserver?.stop();
      await etcd?.proc.stop();
      rmSync(dir, { recursive: true, force: true });
      throw err;
    }
  }

  private async startApiServer(): Promise<void> {
    this.apiserver = await this.launchApiServer(this.port, 'kube-apiserver');
  }

  /** One kube-apiserver on `port` over our etcd; resolves once /readyz answers 200. */
  private async launchApiServer(port: number, name: string): Promise<Proc> {
    const server = `https://127.0.0.1:${port}`;
    const args = [
      `--etcd-servers=${this.etcdUrl}`,
      `--bind-address=127.0.0.1`,
      `--advertise-address=127.0.0.1`,
      `--secure-port=${port}`,
      `--cert-dir=${join(this.dir, `${name}-certs`)}`,
      `--tls-cert-file=${this.pki.servingCert}`,
      `--tls-private-key-file=${this.pki.servingKey}`,
      `--client-ca-file=${this.pki.caCert}`,
      '--authorization-mode=RBAC',
      '--service-cluster-ip-range=10.0.0.0/24',
      '--allow-privileged=true',
      // No controller-manager creates default service accounts here (as in envtest).
      '--disable-admission-plugins=ServiceAccount',
      `--service-account-issuer=${this.server}`,
      `--service-account-key-file=${this.pki.saPub}`,
      `--service-account-signing-key-file=${this.pki.saKey}`,
      '--v=1',
    ];
    const proc = new Proc(name, this.apiserverBin, args, join(this.dir, `${name}.log`));
    try {
      await this.waitReady(proc, server, 90_000);
    } catch (err) {
      await proc.stop();
      throw err;
    }
    return proc;
  }

  private async waitReady(proc: Proc, server: string, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let code = 0;
    while (Date.now() < deadline) {
      if (!proc.running) throw new Error(`${proc.name} exited:\n${proc.tail()}`);
      code = await probe(`${server}/readyz`, this.caPem, this.admin.cert, this.admin.key);
      if (code === 200) return;
      await sleep(250);
    }
    throw new Error(`${proc.name} not ready after ${timeoutMs} ms (last /readyz: ${code}):\n${proc.tail()}`);
  }

  adminConfig(): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromFile(this.kubeconfigPath);
    return kc;
  }

  userConfig(name: string, groups: string[] = []): KubeConfig {
    const c = clientCert(this.pki, name, groups);
    const kc = new KubeConfig();
    kc.loadFromString(kubeconfigYaml(this.server, this.caPem, name, c.cert, c.key));
    return kc;
  }

  async restartApiServer(opts: RestartOptions = {}): Promise<void> {
    await this.apiserver?.stop();
    if (opts.whileDown) {
      // A second apiserver over the same etcd (as in an HA control plane) makes
      // changes the first one's watchers cannot see ...
      const port = await freePort();
      const other = await this.launchApiServer(port, 'kube-apiserver-2');
      try {
        const kc = new KubeConfig();
        kc.loadFromString(kubeconfigYaml(`https://127.0.0.1:${port}`, this.caPem, 'kube-lcp-admin', this.admin.cert, this.admin.key));
        await opts.whileDown(kc);
      } finally {
        await other.stop();
      }
      // ... and compacting etcd makes every resourceVersion they hold too old (410 Gone).
      await compactEtcd(this.etcdUrl);
    }
    await this.startApiServer();
  }

  async stop(): Promise<void> {
    try {
      await this.apiserver?.stop();
      await this.etcd?.stop();
    } finally {
      rmSync(this.dir, { recursive: true, force: true });
    }
  }
}

/** Compacts etcd's history up to its current revision (etcd's JSON gateway). */
async function compactEtcd(etcdUrl: string): Promise<void> {
  const post = async (path: string, body: unknown): Promise<Record<string, unknown>> => {
    const res = await fetch(`${etcdUrl}${path}`, { method: 'POST', body: JSON.stringify(body) });
    if (!res.ok) throw new Error(`etcd ${path}: ${res.status} ${await res.text()}`);
    return (await res.json()) as Record<string, unknown>;
  };
  const range = await post('/v3/kv/range', { key: Buffer.from('/').toString('base64') });
  const revision = (range.header as { revision?: string } | undefined)?.revision;
  if (!revision) throw new Error('etcd: no revision in range response');
  await post('/v3/kv/compaction', { revision, physical: true });
}

async function startEtcd(dir: string): Promise<{ proc: Proc; url: string }> {
  const [client, peer] = [await freePort(), await freePort()];
  const url = `http://127.0.0.1:${client}`;
  const peerUrl = `http://127.0.0.1:${peer}`;
  const proc = new Proc('etcd', etcdBin(), [
    '--name=default',
    `--data-dir=${join(dir, 'etcd')}`,
    `--listen-client-urls=${url}`,
    `--advertise-client-urls=${url}`,
    `--listen-peer-urls=${peerUrl}`,
    `--initial-advertise-peer-urls=${peerUrl}`,
    `--initial-cluster=default=${peerUrl}`,
    '--log-level=warn',
  ], join(dir, 'etcd.log'));
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (!proc.running) throw new Error(`etcd exited:\n${proc.tail()}`);
    const ok = await fetch(`${url}/health`).then((r) => r.ok, () => false);
    if (ok) return { proc, url };
    await sleep(100);
  }
  await proc.stop();
  throw new Error(`etcd not healthy after 30 s:\n${proc.tail()}`);
}

class ExternalCluster implements TestCluster {
  readonly external = true;
  constructor(readonly kubeconfigPath: string) {}
  adminConfig(): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromFile(this.kubeconfigPath);
    return kc;
  }
  userConfig(): KubeConfig {
    throw new Error('userConfig: only on the local test cluster');
  }
  async restartApiServer(): Promise<void> {
    throw new Error('restartApiServer: only on the local test cluster');
  }
  async stop(): Promise<void> {}
}

/** The CRDs in crds/, as objects. */
export function crdObjects(root = repoRoot()): KubernetesObject[] {
  const dir = join(root, 'crds');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .flatMap((f) => parseAllDocuments(readFileSync(join(dir, f), 'utf8')).map((d) => d.toJS() as KubernetesObject));
}

/** Server-side apply of every CRD, then wait until each is Established. */
export async function installCrds(kc: KubeConfig): Promise<void> {
  const crds = crdObjects();
  // Not through client-node's typed API: its serializer drops enum and x-kubernetes-* keys.
  for (const crd of crds)
    await applyObject(kc, clusterPath('apiextensions.k8s.io', 'v1', 'customresourcedefinitions', crd.metadata?.name), crd, FIELD_MANAGER, true);
  const ext = kc.makeApiClient(ApiextensionsV1Api);
  const deadline = Date.now() + 30_000;
  for (const crd of crds) {
    const name = crd.metadata?.name ?? '';
    for (;;) {
      const got = await ext.readCustomResourceDefinition({ name });
      if (got.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')) break;
      if (Date.now() > deadline) throw new Error(`CRD ${name} not Established after 30 s`);
      await sleep(100);
    }
  }
}

/** Starts (or, with KUBECONFIG, connects to) a cluster with our CRDs installed. */
export async function startCluster(): Promise<TestCluster> {
  const external = process.env.KUBECONFIG;
  const cluster = external ? new ExternalCluster(external) : await LocalCluster.start();
  try {
    await installCrds(cluster.adminConfig());
  } catch (err) {
    await cluster.stop();
    throw err;
  }
  return cluster;
}

/** A run-unique suffix for object names, so runs against a shared cluster never collide. */
export function uniqueSuffix(): string {
  return `${process.pid.toString(36)}${Date.now().toString(36).slice(-4)}`;
}
