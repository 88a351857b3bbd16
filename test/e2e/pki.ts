// Certificates for the test control plane, made with the openssl CLI (Node
// can make keys but not X.509 certificates): one CA that signs the serving
// certificate and client certificates, whose CN/O become the Kubernetes user
// and groups (O=system:masters is the admin; other users are subject to RBAC).
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const openssl = (args: string[], cwd: string): void => {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
};

export interface Pki {
  dir: string;
  caCert: string;
  caKey: string;
  servingCert: string;
  servingKey: string;
  /** Service-account token signing key pair. */
  saKey: string;
  saPub: string;
}

export interface ClientCert {
  cert: string;
  key: string;
}

export function makePki(dir: string): Pki {
  const p = (f: string): string => join(dir, f);
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2',
    '-subj', '/CN=kube-lcp-test-ca', '-keyout', 'ca.key', '-out', 'ca.crt'], dir);
  writeFileSync(p('serving.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=kube-apiserver',
    '-keyout', 'serving.key', '-out', 'serving.csr'], dir);
  openssl(['x509', '-req', '-in', 'serving.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2',
    '-extfile', 'serving.ext', '-out', 'serving.crt'], dir);
  openssl(['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', 'sa.key'], dir);
  openssl(['pkey', '-in', 'sa.key', '-pubout', '-out', 'sa.pub'], dir);
  return {
    dir, caCert: p('ca.crt'), caKey: p('ca.key'), servingCert: p('serving.crt'), servingKey: p('serving.key'),
    saKey: p('sa.key'), saPub: p('sa.pub'),
  };
}

/** A client certificate for user `name` in `groups`, signed by the test CA. */
export function clientCert(pki: Pki, name: string, groups: string[]): ClientCert {
  // CN and O are the only subject parts; names with '/' or ',' would alter it.
  if (![name, ...groups].every((s) => /^[A-Za-z0-9:._-]+$/.test(s))) throw new Error(`bad user or group name: ${name} ${groups}`);
  const base = `user-${name.replace(/:/g, '_')}`;
  const subj = `/CN=${name}${groups.map((g) => `/O=${g}`).join('')}`;
  writeFileSync(join(pki.dir, `${base}.ext`), 'extendedKeyUsage=clientAuth\n');
  openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', subj,
    '-keyout', `${base}.key`, '-out', `${base}.csr`], pki.dir);
  openssl(['x509', '-req', '-in', `${base}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2',
    '-extfile', `${base}.ext`, '-out', `${base}.crt`], pki.dir);
  return { cert: readFileSync(join(pki.dir, `${base}.crt`), 'utf8'), key: readFileSync(join(pki.dir, `${base}.key`), 'utf8') };
}
