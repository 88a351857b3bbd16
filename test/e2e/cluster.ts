// npm run cluster: the e2e control plane (etcd + kube-apiserver, CRDs
// installed) for a person to play with. Prints the kubeconfig; Ctrl-C stops
// it and removes everything it made.
import { startCluster } from './harness.js';

if (process.env.KUBECONFIG) {
  console.error('cluster: KUBECONFIG is set, so the harness would use that cluster; unset it to start a local one');
  process.exit(2);
}
const cluster = await startCluster();
console.log(`kube-lcp test cluster is up; CRDs installed.

  export KUBECONFIG=${cluster.kubeconfigPath}
  kubectl get crds
  kubectl apply -f <your InterfacePair.yaml>
  kubectl get lip,ndp

Ctrl-C stops it.`);
let stopping = false;
const stop = async (): Promise<void> => {
  if (stopping) return;
  stopping = true;
  console.log('\ncluster: stopping');
  await cluster.stop();
  process.exit(0);
};
process.on('SIGINT', () => void stop());
process.on('SIGTERM', () => void stop());
// Keep the event loop alive until a signal arrives.
setInterval(() => {}, 1 << 30);
