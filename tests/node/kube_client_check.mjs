// Runs the official Kubernetes JavaScript client (@kubernetes/client-node) against the fake
// Kubernetes API server used by Shipmate's tests: read a Deployment, set its image with a strategic
// merge patch, list its ReplicaSets, and follow the rollout with the client's Watch.
//
// Usage: node kube_client_check.mjs <kubeconfig> <namespace> <deployment> <container> <image>
// Prints one line per step (READ, PATCHED, REPLICASETS, ROLLED_OUT) and exits 0, or prints
// FAILED and exits 1.
import * as k8s from '@kubernetes/client-node';

const [kubeconfig, namespace, name, container, image] = process.argv.slice(2);

function rolledOut(deployment) {
  const status = deployment.status ?? {};
  const wanted = deployment.spec?.replicas ?? 1;
  return (deployment.metadata?.generation ?? 0) <= (status.observedGeneration ?? 0) &&
         (status.updatedReplicas ?? 0) === wanted && (status.replicas ?? 0) === wanted &&
         (status.availableReplicas ?? 0) === wanted;
}

async function main() {
  const config = new k8s.KubeConfig();
  config.loadFromFile(kubeconfig);
  const apps = config.makeApiClient(k8s.AppsV1Api);

  const read = await apps.readNamespacedDeployment({name, namespace});
  const current = read.spec.template.spec.containers.find((c) => c.name === container);
  console.log(`READ image=${current?.image} generation=${read.metadata.generation}`);

  const patched = await apps.patchNamespacedDeployment(
      {name, namespace, body: {spec: {template: {spec: {containers: [{name: container, image}]}}}}},
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.StrategicMergePatch));
  const after = patched.spec.template.spec.containers.find((c) => c.name === container);
  console.log(`PATCHED image=${after?.image} generation=${patched.metadata.generation}`);

  const watch = new k8s.Watch(config);
  let controller;
  const done = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('rollout not seen within 20 s')), 20000);
    watch
        .watch(`/apis/apps/v1/namespaces/${namespace}/deployments`,
               {fieldSelector: `metadata.name=${name}`},
               (type, object) => {
                 if ((type === 'ADDED' || type === 'MODIFIED') && rolledOut(object)) {
                   clearTimeout(timer);
                   resolve(object);
                 }
               },
               (error) => {
                 if (error) {
                   clearTimeout(timer);
                   reject(error);
                 }
               })
        .then((abort) => { controller = abort; }, reject);
  });
  const finished = await done;
  controller?.abort();
  const revision = finished.metadata.annotations?.['deployment.kubernetes.io/revision'];
  console.log(`ROLLED_OUT revision=${revision}`);

  const selector = Object.entries(read.spec.selector.matchLabels)
                       .map(([key, value]) => `${key}=${value}`)
                       .join(',');
  const sets = await apps.listNamespacedReplicaSet({namespace, labelSelector: selector});
  console.log(`REPLICASETS count=${sets.items.length}`);
}

main().then(() => process.exit(0), (error) => {
  console.log(`FAILED ${error?.message ?? error}`);
  process.exit(1);
});
