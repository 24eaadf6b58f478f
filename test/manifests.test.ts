import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { parse } from 'yaml';
import { CONFIG_VARIABLES } from '../func/detector/service/config.js';
import { LOGGING_CONFIG_VARIABLES } from '../func/logging/config.js';
import { TRACING_VARIABLES } from '../func/shared/tracing.js';
import { REPLY_TYPE, REQUEST_TYPE } from '../func/shared/record.js';
import { podLabels, podSpec, readYamlDocuments, render, type Resource } from './support/kustomize.js';
import { ROOT, SHARED } from './support/paths.js';
import { schemaErrors } from './support/schemas.js';

/**
 * Every manifest, checked without a cluster: each YAML parses, each kustomization renders, each resource
 * validates against its real schema, and the cross-references between them (and with the code) hold.
 */

const at = (...p: string[]): string => path.join(ROOT, ...p);
const base = render(at('k8s'));
const withPostgres = render(at('k8s'), { components: [at('k8s', 'logging', 'postgres')] });
const monitoring = render(at('k8s', 'monitoring'));
const gpu = render(at('knative', 'overlays', 'gpu'));
const cpu = render(at('knative', 'overlays', 'cpu'));
const standalone = ['k8s/jobs/batch-detect.yaml', 'k8s/model-loader-job.yaml', 'model/staging-pod.yaml'].flatMap((f) =>
  readYamlDocuments(at(f)),
);
const all = [...base, ...monitoring, ...gpu, ...standalone];
const workloads = [...base, ...withPostgres, ...gpu, ...cpu, ...standalone].filter((r) => podSpec(r));
const id = (r: Resource): string => `${r.kind}/${r.metadata?.name}`;
const find = (list: Resource[], kind: string, name: string): Resource | undefined =>
  list.find((r) => r.kind === kind && r.metadata?.name === name);
const ksvc = (list: Resource[]): Resource =>
  list.find((r) => r.kind === 'Service' && r.apiVersion === 'serving.knative.dev/v1')!;

function yamlFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((e) => {
    const full = path.join(dir, e);
    return statSync(full).isDirectory() ? yamlFiles(full) : /\.ya?ml$/.test(e) ? [full] : [];
  });
}

t.test('every YAML file parses', async (t) => {
  const files = [...yamlFiles(at('k8s')), ...yamlFiles(at('knative')), ...yamlFiles(at('model')), at('func.yaml')];
  t.ok(files.length > 25, `${files.length} files`);
  for (const f of files) t.doesNotThrow(() => readYamlDocuments(f), path.relative(ROOT, f));
});

t.test('every resource validates against its schema', async (t) => {
  for (const [name, list] of [
    ['k8s/', base],
    ['k8s/ + logging/postgres', withPostgres],
    ['k8s/monitoring', monitoring],
    ['knative/overlays/gpu', gpu],
    ['knative/overlays/cpu', cpu],
    ['standalone Jobs and Pod', standalone],
  ] as const) {
    for (const r of list) t.same(schemaErrors(r), [], `${name}: ${id(r)}`);
  }
  const broken = structuredClone(ksvc(gpu));
  broken.spec.template.spec.containers[0].imagePullPolicyy = 'Always';
  t.not(schemaErrors(broken).length, 0, 'a misspelt field in the Knative Service is caught');
  const badJob = structuredClone(standalone[0]!);
  badJob.spec.completionMode = 'Sometimes';
  t.not(schemaErrors(badJob).length, 0, 'a bad value in a core kind is caught');
});

t.test('both overlays render, and differ exactly in GPU placement, image and provider', async (t) => {
  const [g, c] = [ksvc(gpu), ksvc(cpu)];
  const gs = g.spec.template.spec;
  const cs = c.spec.template.spec;
  t.match(gs.containers[0].image, /:0\.1\.0$/);
  t.match(cs.containers[0].image, /:0\.1\.0-cpu$/);
  t.equal(gs.containers[0].resources.limits['nvidia.com/gpu'], '1');
  t.notOk(cs.containers[0].resources.limits['nvidia.com/gpu'], 'cpu: no GPU limit');
  t.notOk(cs.containers[0].resources.requests['nvidia.com/gpu'], 'cpu: no GPU request');
  t.same(
    gs.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions,
    [{ key: 'nvidia.com/gpu.present', operator: 'In', values: ['true'] }],
  );
  t.ok(gs.tolerations.some((x: Resource) => x.key === 'nvidia.com/gpu'));
  t.notOk(cs.affinity, 'cpu: no affinity');
  t.notOk(cs.tolerations, 'cpu: no toleration');
  t.same(cs.containers[0].env, [{ name: 'EXECUTION_PROVIDERS', value: 'cpu' }]);
  const ann = g.spec.template.metadata.annotations;
  t.match(ann, {
    'autoscaling.knative.dev/class': 'kpa.autoscaling.knative.dev',
    'autoscaling.knative.dev/min-scale': '0',
  });
  for (const a of ['max-scale', 'target', 'initial-scale', 'scale-to-zero-pod-retention-period']) {
    t.ok(ann[`autoscaling.knative.dev/${a}`], `autoscaling ${a}`);
  }
  t.ok(ann['serving.knative.dev/progress-deadline'], 'a progress deadline');
  t.ok(gs.containerConcurrency >= 1 && gs.timeoutSeconds > 0 && gs.responseStartTimeoutSeconds > 0);
});

t.test('storage: claims, volumes, access modes, classes and sizes agree', async (t) => {
  const pvcs = base.filter((r) => r.kind === 'PersistentVolumeClaim');
  const pvs = base.filter((r) => r.kind === 'PersistentVolume');
  for (const w of workloads) {
    for (const v of podSpec(w)!.volumes ?? []) {
      if (v.persistentVolumeClaim) {
        t.ok(
          find(pvcs, 'PersistentVolumeClaim', v.persistentVolumeClaim.claimName),
          `${id(w)}: claim ${v.persistentVolumeClaim.claimName} exists`,
        );
      }
    }
  }
  for (const pvc of pvcs) {
    const pv = find(pvs, 'PersistentVolume', pvc.spec.volumeName);
    t.ok(pv, `${id(pvc)} binds PV ${pvc.spec.volumeName}`);
    if (!pv) continue;
    t.same(pvc.spec.accessModes, pv.spec.accessModes, `${id(pvc)}: access modes`);
    t.equal(pvc.spec.storageClassName, pv.spec.storageClassName, `${id(pvc)}: storage class`);
    t.equal(pvc.spec.resources.requests.storage, pv.spec.capacity.storage, `${id(pvc)}: size`);
    t.match(pv.spec.hostPath.path, /^\/mnt\/data\//, `${id(pv)}: hostPath under /mnt/data`);
    // kubernetes/kubernetes 9efa0b0 pkg/volume/hostpath/host_path.go: checkTypeInternal creates a missing
    // DirectoryOrCreate folder with makeDir, os.MkdirAll(path, 0755) as the kubelet's user (root), and
    // hostPathMounter.GetAttributes says Managed: false, so fsGroup ownership is never applied: uid 10001 cannot
    // write it. Directory fails the pod until the prepared folder exists (test/production-pod.test.ts runs that).
    t.equal(pv.spec.hostPath.type, 'Directory', `${id(pv)}: the folder must be prepared, not created as root`);
  }
  const mode = (name: string): string[] => find(pvcs, 'PersistentVolumeClaim', name)!.spec.accessModes;
  t.same(mode('yolo-models'), ['ReadOnlyMany']);
  t.same(mode('yolo-outputs'), ['ReadWriteMany']);
  t.same(mode('yolo-logs'), ['ReadWriteOnce']);
  t.equal(find(pvs, 'PersistentVolume', 'yolo-models')!.spec.persistentVolumeReclaimPolicy, 'Retain');
  t.notOk(find(withPostgres, 'PersistentVolumeClaim', 'yolo-logs'), 'the postgres component drops the SQLite claim');
});

t.test('the models volume is read-only, on the volume and on the mount, wherever it is served from', async (t) => {
  const writers = new Set(['Job/yolo-model-loader', 'Pod/yolo-model-staging']);
  for (const w of workloads) {
    const spec = podSpec(w)!;
    const vol = (spec.volumes ?? []).find((v: Resource) => v.persistentVolumeClaim?.claimName === 'yolo-models');
    if (!vol) continue;
    const mounts = spec.containers
      .flatMap((c: Resource) => c.volumeMounts ?? [])
      .filter((m: Resource) => m.name === vol.name);
    if (writers.has(id(w))) {
      t.notOk(vol.persistentVolumeClaim.readOnly, `${id(w)} stages models, so it writes`);
      continue;
    }
    t.equal(vol.persistentVolumeClaim.readOnly, true, `${id(w)}: volume read-only`);
    t.ok(mounts.length > 0 && mounts.every((m: Resource) => m.readOnly === true), `${id(w)}: mount read-only`);
  }
});

t.test('configuration: the variables the code reads are the ones the manifests set', async (t) => {
  const cm = find(base, 'ConfigMap', 'yolo-detector-config')!;
  const svc = ksvc(gpu).spec.template.spec.containers[0];
  // The kubelet makes every key of the ConfigMap's data an environment variable of that name, with envFrom's
  // prefix if one is set, and fails the container if the ConfigMap is missing and not optional: kubernetes/kubernetes
  // pkg/kubelet/kubelet_pods.go, makeEnvironmentVariables ("for k, v := range configMap.Data { if
  // len(envFrom.Prefix) > 0 { k = envFrom.Prefix + k } ... tmpEnv[k] = v"; at 001a80e9). So: no prefix, not
  // optional, and the keys below are the names the code reads.
  t.same(svc.envFrom, [{ configMapRef: { name: 'yolo-detector-config' } }]);
  const set = new Set([...Object.keys(cm.data), ...(svc.env ?? []).map((e: Resource) => e.name)]);
  const read = new Set<string>(CONFIG_VARIABLES);
  t.same(
    [...set].filter((v) => !read.has(v)),
    [],
    'nothing set that the code does not read',
  );
  t.same(
    [...read].filter((v) => !set.has(v) && v !== 'PORT' && !(TRACING_VARIABLES as readonly string[]).includes(v)),
    [],
    'everything the code reads is set (PORT by Knative; OTEL_* by the tracing component, off without it)',
  );
  const cpuEnv = ksvc(cpu).spec.template.spec.containers[0].env.map((e: Resource) => e.name);
  t.ok(cpuEnv.every((n: string) => read.has(n)));
  for (const w of [find(base, 'Deployment', 'yolo-logging')!, find(withPostgres, 'Deployment', 'yolo-logging')!]) {
    const env = podSpec(w)!.containers[0].env as Resource[];
    const names = env.map((e) => e.name);
    t.same(
      names.filter((n) => !(LOGGING_CONFIG_VARIABLES as readonly string[]).includes(n)),
      [],
      'logging: only known variables',
    );
    t.ok(names.includes('DATABASE_PATH') || names.includes('DATABASE_URL'), 'logging: a database is configured');
    const url = env.find((e) => e.name === 'DATABASE_URL');
    if (url)
      t.same(
        url.valueFrom,
        { secretKeyRef: { name: 'yolo-logging-database', key: 'url' } },
        'DATABASE_URL comes from a Secret',
      );
  }
  t.equal(find(withPostgres, 'Deployment', 'yolo-logging')!.spec.replicas, 2);
  t.equal(find(base, 'Deployment', 'yolo-logging')!.spec.strategy.type, 'Recreate', 'one SQLite writer at a time');
  t.notOk(
    [...base, ...withPostgres, ...gpu, ...monitoring, ...standalone].some((r) => r.kind === 'Secret'),
    'no Secret in any manifest',
  );
});

t.test('feature flags: the patch enables exactly what the Service uses, and each flag exists', async (t) => {
  // Knative ships every flag with its default inside the ConfigMap's `_example` block, itself YAML.
  const features = parse(readFileSync(path.join(SHARED, 'schemas', 'knative', 'serving-config-features.yaml'), 'utf8'));
  const defaults = parse(features.data._example) as Record<string, string>;
  const patch = parse(readFileSync(at('knative', 'cluster', 'config-features-patch.yaml'), 'utf8')).data as Record<
    string,
    string
  >;
  const needed = new Set<string>();
  for (const list of [gpu, cpu]) {
    const spec = ksvc(list).spec.template.spec;
    if (spec.affinity) needed.add('kubernetes.podspec-affinity');
    if (spec.tolerations) needed.add('kubernetes.podspec-tolerations');
    if (spec.nodeSelector) needed.add('kubernetes.podspec-nodeselector');
    if (spec.securityContext) needed.add('kubernetes.podspec-securitycontext');
    for (const v of spec.volumes ?? []) {
      if (v.persistentVolumeClaim) needed.add('kubernetes.podspec-persistent-volume-claim');
      if (v.emptyDir) needed.add('kubernetes.podspec-volumes-emptydir');
      if (v.persistentVolumeClaim && !v.persistentVolumeClaim.readOnly)
        needed.add('kubernetes.podspec-persistent-volume-write');
    }
  }
  for (const flag of Object.keys(patch)) t.ok(flag in defaults, `${flag} is a real flag`);
  for (const flag of needed) {
    t.ok(patch[flag] === 'enabled' || (defaults[flag] === 'enabled' && !(flag in patch)), `${flag} is enabled`);
  }
  t.same(
    Object.keys(patch).filter((f) => !needed.has(f)),
    [],
    'nothing enabled that the Service does not use',
  );
  t.ok(Object.values(patch).every((v) => v === 'enabled'));
});

t.test('eventing: triggers route the types the code accepts and emits, to subscribers that exist', async (t) => {
  const triggers = gpu.filter((r) => r.kind === 'Trigger');
  const broker = find(gpu, 'Broker', 'yolo')!;
  const byType = Object.fromEntries(triggers.map((tr) => [tr.spec.filter.attributes.type, tr]));
  t.same(Object.keys(byType).sort(), [REPLY_TYPE, REQUEST_TYPE].sort());
  t.not(REPLY_TYPE, REQUEST_TYPE, "the detector's reply never matches its own trigger");
  t.same(byType[REQUEST_TYPE].spec.subscriber.ref, {
    apiVersion: 'serving.knative.dev/v1',
    kind: 'Service',
    name: 'yolo-detector',
  });
  t.same(byType[REPLY_TYPE].spec.subscriber.ref, { apiVersion: 'v1', kind: 'Service', name: 'yolo-logging' });
  const resolve = (ref: Resource): Resource | undefined =>
    [...gpu, ...base].find(
      (r) => r.apiVersion === ref.apiVersion && r.kind === ref.kind && r.metadata.name === ref.name,
    );
  for (const tr of triggers) {
    t.equal(tr.spec.broker, broker.metadata.name, `${id(tr)} is on the broker`);
    t.ok(resolve(tr.spec.subscriber.ref), `${id(tr)}: subscriber exists`);
    const d = tr.spec.delivery;
    t.ok(d.retry > 0 && d.backoffPolicy === 'exponential', `${id(tr)}: retries with exponential backoff`);
    t.ok(resolve(d.deadLetterSink.ref), `${id(tr)}: dead-letter sink exists`);
    t.equal(d.deadLetterSink.uri, '/failures', `${id(tr)}: dead letters go to /failures`);
  }
  t.ok(resolve(broker.spec.delivery.deadLetterSink.ref), 'the broker default dead-letter sink exists');
});

t.test('probes point at paths the servers serve, on their ports', async (t) => {
  const detector = ksvc(gpu).spec.template.spec.containers[0];
  const port = detector.ports[0].containerPort;
  t.equal(port, 8080);
  for (const probe of ['startupProbe', 'readinessProbe', 'livenessProbe']) {
    t.equal(detector[probe].httpGet.port, port, `detector ${probe} on the container port`);
  }
  t.equal(detector.readinessProbe.httpGet.path, '/health/readiness');
  t.equal(detector.startupProbe.httpGet.path, '/health/readiness');
  t.equal(detector.livenessProbe.httpGet.path, '/health/liveness');
  const logging = podSpec(find(base, 'Deployment', 'yolo-logging')!)!.containers[0];
  t.equal(logging.readinessProbe.httpGet.path, '/health/readiness');
  t.equal(logging.livenessProbe.httpGet.path, '/health/liveness');
  t.equal(logging.readinessProbe.httpGet.port, logging.ports[0].name, 'logging probes use the named port');
  t.same(logging.command, ['node', 'dist/func/logging/start.js']);
  // That the servers really answer on these paths is checked against running processes in
  // deploy-files.test.ts (the function), the contract suites (the container server) and logging-suite.ts.
});

t.test('labels and selectors agree', async (t) => {
  for (const r of all) {
    const labels = r.metadata?.labels ?? {};
    for (const l of ['name', 'component', 'part-of'])
      t.ok(labels[`app.kubernetes.io/${l}`], `${id(r)}: app.kubernetes.io/${l}`);
    t.equal(labels['app.kubernetes.io/part-of'], 'knative-yolo');
    if (r.kind !== 'Namespace' && r.kind !== 'PersistentVolume')
      t.equal(r.metadata.namespace, 'knative-yolo', `${id(r)}: namespace`);
  }
  const podsOf = (selector: Record<string, string>): Resource[] =>
    workloads.filter((w) => Object.entries(selector).every(([k, v]) => podLabels(w)[k] === v));
  const dep = find(base, 'Deployment', 'yolo-logging')!;
  const svc = find(base, 'Service', 'yolo-logging')!;
  t.match(podLabels(dep), dep.spec.selector.matchLabels, 'the Deployment selects its own pods');
  t.ok(podsOf(svc.spec.selector).includes(dep), 'the logging Service selects the logging pods');
  t.ok(
    svc.spec.ports.every((p: Resource) =>
      podSpec(dep)!.containers[0].ports.some((c: Resource) => c.name === p.targetPort),
    ),
    'target ports exist',
  );
  for (const np of base.filter((r) => r.kind === 'NetworkPolicy')) {
    const sel = np.spec.podSelector.matchLabels;
    if (sel) t.ok(podsOf(sel).length > 0, `${id(np)} selects pods`);
  }
  const pm = find(monitoring, 'PodMonitor', 'yolo-detector')!;
  t.ok(
    podsOf(pm.spec.selector.matchLabels).some((w) => w.kind === 'Service'),
    'the PodMonitor selects the detector pods',
  );
  const sm = find(monitoring, 'ServiceMonitor', 'yolo-logging')!;
  t.match(svc.metadata.labels, sm.spec.selector.matchLabels, 'the ServiceMonitor selects the logging Service');
  t.ok(
    svc.spec.ports.some((p: Resource) => p.name === sm.spec.endpoints[0].port),
    'on a port the Service has',
  );
  const alerts = find(monitoring, 'PrometheusRule', 'knative-yolo-alerts')!.spec.groups[0].rules.map(
    (r: Resource) => r.alert,
  );
  t.same(alerts.sort(), [
    'YoloDetectorErrorRate',
    'YoloDetectorLatencyP95',
    'YoloLoggingServiceDown',
    'YoloOutputVolumeAlmostFull',
  ]);
  const np = find(base, 'NetworkPolicy', 'yolo-detector-ingress')!;
  const from = np.spec.ingress[0].from[0].namespaceSelector.matchExpressions[0].values;
  t.ok(from.includes('knative-serving'), 'the detector takes traffic from the Knative data plane');
});

t.test('restricted pod security for every workload', async (t) => {
  const ns = find(base, 'Namespace', 'knative-yolo')!;
  t.equal(ns.metadata.labels['pod-security.kubernetes.io/enforce'], 'restricted');
  t.equal(find(base, 'ServiceAccount', 'knative-yolo')!.automountServiceAccountToken, false);
  for (const w of workloads) {
    const spec = podSpec(w)!;
    const podSc = spec.securityContext ?? {};
    t.equal(spec.automountServiceAccountToken, false, `${id(w)}: no service account token`);
    for (const c of spec.containers) {
      const sc = c.securityContext ?? {};
      const where = `${id(w)}/${c.name}`;
      t.ok(sc.runAsNonRoot === true || podSc.runAsNonRoot === true, `${where}: runAsNonRoot`);
      t.ok((sc.runAsUser ?? podSc.runAsUser) > 0, `${where}: a non-zero user`);
      t.equal(sc.allowPrivilegeEscalation, false, `${where}: no privilege escalation`);
      t.same(sc.capabilities?.drop, ['ALL'], `${where}: drops ALL capabilities`);
      t.equal((sc.seccompProfile ?? podSc.seccompProfile)?.type, 'RuntimeDefault', `${where}: seccomp RuntimeDefault`);
      t.equal(sc.readOnlyRootFilesystem, true, `${where}: read-only root filesystem`);
      t.notOk(sc.privileged, `${where}: not privileged`);
      if (w.kind !== 'Pod') {
        const tmp = (c.volumeMounts ?? []).find((m: Resource) => m.mountPath === '/tmp');
        const vol = tmp && spec.volumes.find((v: Resource) => v.name === tmp.name);
        t.ok(vol?.emptyDir, `${where}: /tmp is an emptyDir`);
      }
    }
  }
});
