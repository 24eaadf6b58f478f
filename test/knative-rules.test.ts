import { readFile } from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { parse } from 'yaml';
import { readYamlDocuments, render, type Resource } from './support/kustomize.js';
import { ROOT } from './support/paths.js';

/**
 * Rules that Knative and func enforce and no schema shows, taken from their source (knative/serving 98e5ef9,
 * knative/func c18d604) and checked against the files here: what `func deploy` and `kubectl apply` would meet.
 */

const AUTOSCALING_GROUP = 'autoscaling.knative.dev'; // serving pkg/apis/autoscaling/register.go:32

/**
 * The Service `func deploy` creates from func.yaml, for the parts these rules touch. func's deployer puts
 * deploy.annotations on the Service's metadata and a copy on the template (pkg/knative/deployer.go:446-466), then
 * writes options.scale as template annotations only (setServiceOptions, deployer.go:570-602).
 */
function serviceFromFuncYaml(doc: Resource): Resource {
  const annotations: Record<string, string> = { ...(doc.deploy?.annotations ?? {}) };
  const template: Record<string, string> = { ...annotations };
  const scale = doc.deploy?.options?.scale ?? {};
  if (scale.min !== undefined) template[`${AUTOSCALING_GROUP}/min-scale`] = String(scale.min);
  if (scale.max !== undefined) template[`${AUTOSCALING_GROUP}/max-scale`] = String(scale.max);
  if (scale.metric !== undefined) template[`${AUTOSCALING_GROUP}/metric`] = scale.metric;
  if (scale.target !== undefined) template[`${AUTOSCALING_GROUP}/target`] = scale.target.toFixed(6);
  return {
    kind: 'Service',
    metadata: { name: doc.name, annotations },
    spec: { template: { metadata: { annotations: template } } },
  };
}

/**
 * serving pkg/apis/serving/v1/service_validation.go:33 validates a Service's metadata with
 * ValidateObjectMetadata(…, false), which refuses every annotation of the autoscaling group
 * (pkg/apis/serving/metadata_validation.go:81-88: "autoscaling annotations must be put under
 * spec.template.metadata.annotations"); the revision template takes them (revision_validation.go:39, true).
 */
function autoscalingOnServiceMetadata(service: Resource): string[] {
  return Object.keys(service.metadata?.annotations ?? {}).filter((k) => k.startsWith(AUTOSCALING_GROUP));
}

t.test('the Service that func deploy would create passes the annotation rule', async (t) => {
  const doc = parse(await readFile(path.join(ROOT, 'func.yaml'), 'utf8')) as Resource;
  const service = serviceFromFuncYaml(doc);
  t.same(autoscalingOnServiceMetadata(service), [], 'no autoscaling annotation on the Service metadata');
  const template = service.spec.template.metadata.annotations as Record<string, string>;
  t.equal(template[`${AUTOSCALING_GROUP}/min-scale`], '0', 'it still scales to zero, from options.scale');
  t.ok(template[`${AUTOSCALING_GROUP}/max-scale`], 'with a ceiling');

  // The rule catches what func.yaml once had: the same annotations under deploy.annotations.
  const before = serviceFromFuncYaml({
    ...doc,
    deploy: { ...doc.deploy, annotations: { [`${AUTOSCALING_GROUP}/min-scale`]: '0' } },
  });
  t.same(autoscalingOnServiceMetadata(before), [`${AUTOSCALING_GROUP}/min-scale`], 'the old func.yaml is refused');
});

t.test('the Knative Services in knative/ pass the annotation rule', async (t) => {
  for (const overlay of ['gpu', 'cpu']) {
    const services = render(path.join(ROOT, 'knative', 'overlays', overlay)).filter(
      (r) => r.kind === 'Service' && r.apiVersion === 'serving.knative.dev/v1',
    );
    t.ok(services.length > 0, `${overlay}: a Knative Service`);
    for (const s of services) t.same(autoscalingOnServiceMetadata(s), [], `${overlay}: ${s.metadata.name}`);
  }
});

/** serving pkg/networking/constants.go:24-42: where Knative reaches a revision pod's queue-proxy. */
const KNATIVE_PORTS = {
  dataPlane: [8012, 8013, 8112], // BackendHTTPPort, BackendHTTP2Port, BackendHTTPSPort: activator and gateways
  autoscaler: [9090], // AutoscalingQueueMetricsPort, scraped by pkg/autoscaler/metrics/stats_scraper.go:215
};

t.test(
  "the detector's NetworkPolicy admits every port Knative uses to reach a revision pod, and no more",
  async (t) => {
    const [policy] = readYamlDocuments(path.join(ROOT, 'k8s', 'network', 'detector-ingress.yaml'));
    const fromNamespace = (ns: string): number[] =>
      (policy!.spec.ingress as Resource[])
        .filter((rule) =>
          (rule.from as Resource[]).some(
            (f) =>
              f.namespaceSelector?.matchLabels?.['kubernetes.io/metadata.name'] === ns ||
              (f.namespaceSelector?.matchExpressions as Resource[] | undefined)?.some(
                (e) => e.key === 'kubernetes.io/metadata.name' && e.operator === 'In' && e.values.includes(ns),
              ),
          ),
        )
        .flatMap((rule) => (rule.ports as Resource[]).map((p) => p.port as number));
    const serving = new Set(fromNamespace('knative-serving'));
    for (const port of [...KNATIVE_PORTS.dataPlane, ...KNATIVE_PORTS.autoscaler]) {
      t.ok(serving.has(port), `knative-serving reaches ${port}`);
    }
    t.same(
      [...serving].filter((p) => ![...KNATIVE_PORTS.dataPlane, ...KNATIVE_PORTS.autoscaler].includes(p)),
      [],
      'and nothing else',
    );
    t.same(new Set(fromNamespace('kourier-system')), new Set(KNATIVE_PORTS.dataPlane), 'the gateway: the data ports');
  },
);

t.test('the model loader stages the file, with the sha256, that the ConfigMap serves', async (t) => {
  const [config] = readYamlDocuments(path.join(ROOT, 'k8s', 'configmap.yaml'));
  const [job] = readYamlDocuments(path.join(ROOT, 'k8s', 'model-loader-job.yaml'));
  const env = new Map(
    (job!.spec.template.spec.containers[0].env as Resource[]).map((e) => [e.name as string, e.value as string]),
  );
  t.equal(`/models/${env.get('MODEL_FILE')}`, config!.data.MODEL_PATH, 'MODEL_FILE is the ConfigMap’s MODEL_PATH');
  t.equal(env.get('MODEL_SHA256'), config!.data.MODEL_SHA256, 'and is checked against the pinned sha256');
});

t.test('the GPU overlay serves a float model; the CPU overlay the ConfigMap’s int8 one', async (t) => {
  const [config] = readYamlDocuments(path.join(ROOT, 'k8s', 'configmap.yaml'));
  // A container env entry overrides the ConfigMap's (envFrom) value of the same name: kubernetes/kubernetes
  // pkg/kubelet/kubelet_pods.go, makeEnvironmentVariables, "Env will override EnvFrom variables. Process EnvFrom
  // first then allow Env to replace existing values." (at 001a80e9).
  const envOf = (overlay: string, name: string): string | undefined => {
    const service = render(path.join(ROOT, 'knative', 'overlays', overlay)).find((r) => r.kind === 'Service');
    const own = (service!.spec.template.spec.containers[0].env as Resource[] | undefined)?.find((e) => e.name === name);
    return own ? own.value : config!.data[name];
  };
  // int8 dynamic quantization is what puts ConvInteger in a graph (every int8 model in ../shared has it).
  t.notMatch(envOf('gpu', 'MODEL_PATH'), /int8|quant/i, `GPU: ${envOf('gpu', 'MODEL_PATH')}`);
  t.equal(envOf('gpu', 'MODEL_SHA256'), '', 'the int8 pin does not carry over to the GPU model');
  t.match(envOf('cpu', 'MODEL_PATH'), /int8/, `CPU: ${envOf('cpu', 'MODEL_PATH')}`);
  t.match(envOf('cpu', 'MODEL_SHA256'), /^[0-9a-f]{64}$/, 'pinned');
});

/** Volumes and mounts as func's deployer makes them (knative/func pkg/k8s/deployer.go:878-985, ProcessVolumes). */
function funcVolumes(doc: Resource): { volumes: Resource[]; mounts: Resource[] } {
  const volumes: Resource[] = [];
  const mounts: Resource[] = [];
  for (const v of doc.run.volumes as Resource[]) {
    if (v.persistentVolumeClaim) {
      const name = `pvc-${v.persistentVolumeClaim.claimName}`;
      volumes.push({
        name,
        persistentVolumeClaim: {
          claimName: v.persistentVolumeClaim.claimName,
          readOnly: v.persistentVolumeClaim.readOnly ?? false, // deployer.go:936, from func.yaml
        },
      });
      // deployer.go:978-981: a mount is name and path only; readOnly is never set.
      mounts.push({ name, mountPath: v.path });
    } else if (v.emptyDir) {
      volumes.push({ name: `empty-dir-${mounts.length}`, emptyDir: v.emptyDir });
      mounts.push({ name: `empty-dir-${mounts.length}`, mountPath: v.path });
    }
  }
  return { volumes, mounts };
}

/**
 * serving pkg/apis/serving/k8s_validation.go: a PVC needs kubernetes.podspec-persistent-volume-claim (:110-112);
 * a writable one also kubernetes.podspec-persistent-volume-write (:114-117); and a read-only claim on a mount that
 * is not read-only is refused (:760-764).
 */
function volumeErrors(volumes: Resource[], mounts: Resource[], features: Record<string, string>): string[] {
  const errors: string[] = [];
  for (const v of volumes.filter((v) => v.persistentVolumeClaim)) {
    if (features['kubernetes.podspec-persistent-volume-claim'] !== 'enabled') errors.push(`${v.name}: PVCs disabled`);
    if (!v.persistentVolumeClaim.readOnly && features['kubernetes.podspec-persistent-volume-write'] !== 'enabled') {
      errors.push(`${v.name}: writable PVCs disabled`);
    }
    const mount = mounts.find((m) => m.name === v.name);
    if (v.persistentVolumeClaim.readOnly && !mount?.readOnly)
      errors.push(`${v.name}: volume is readOnly but mount is not`);
  }
  return errors;
}

t.test('volumes: what func deploy and kubectl apply create passes the PVC rules with the cluster patch', async (t) => {
  const doc = parse(await readFile(path.join(ROOT, 'func.yaml'), 'utf8')) as Resource;
  const features = parse(await readFile(path.join(ROOT, 'knative', 'cluster', 'config-features-patch.yaml'), 'utf8'))
    .data as Record<string, string>;
  const fromFunc = funcVolumes(doc);
  t.same(volumeErrors(fromFunc.volumes, fromFunc.mounts, features), [], 'func deploy');
  // Why func.yaml cannot ask for a read-only models volume: func would set it on the volume only.
  const readOnly = structuredClone(doc);
  readOnly.run.volumes[0].persistentVolumeClaim.readOnly = true;
  const refused = funcVolumes(readOnly);
  t.match(volumeErrors(refused.volumes, refused.mounts, features), [/volume is readOnly but mount is not/]);

  for (const overlay of ['gpu', 'cpu']) {
    const service = render(path.join(ROOT, 'knative', 'overlays', overlay)).find((r) => r.kind === 'Service')!;
    const spec = service.spec.template.spec;
    t.same(volumeErrors(spec.volumes, spec.containers[0].volumeMounts, features), [], `kubectl: ${overlay}`);
    const models = (spec.volumes as Resource[]).find((v) => v.persistentVolumeClaim?.claimName === 'yolo-models');
    const mount = (spec.containers[0].volumeMounts as Resource[]).find((m) => m.name === models?.name);
    t.ok(models?.persistentVolumeClaim.readOnly && mount?.readOnly, `kubectl: ${overlay}: models read-only`);
  }
});

t.test('the func path and the kubectl path are two Services, each reached by its own Trigger', async (t) => {
  const doc = parse(await readFile(path.join(ROOT, 'func.yaml'), 'utf8')) as Resource;
  const base = render(path.join(ROOT, 'knative', 'base'));
  const services = base.filter((r) => r.kind === 'Service' && r.apiVersion === 'serving.knative.dev/v1');
  for (const s of services) t.not(doc.name, s.metadata.name, `func.yaml's name is not ${s.metadata.name}'s`);
  t.equal(doc.namespace, services[0]!.metadata.namespace, 'deployed to the namespace of the PVCs');
  const broker = base.find((r) => r.kind === 'Broker')!;
  // knative/func pkg/knative/deployer.go:378-414: a Trigger per subscription, on the Broker named by `source`, with
  // the filters as its attributes and the Function's Service as subscriber.
  t.same(doc.deploy.subscriptions, [{ source: broker.metadata.name, filters: { type: 'yolo.detection.requested' } }]);
  // The detector's NetworkPolicy must admit both, or default-deny leaves the Function unreachable.
  const [policy] = readYamlDocuments(path.join(ROOT, 'k8s', 'network', 'detector-ingress.yaml'));
  const selects = (name: string): boolean =>
    (policy!.spec.podSelector.matchExpressions as Resource[]).some(
      (e) => e.key === 'serving.knative.dev/service' && e.operator === 'In' && e.values.includes(name),
    );
  t.ok(selects(doc.name) && services.every((s) => selects(s.metadata.name)), 'the NetworkPolicy selects both');
});

/**
 * serving pkg/apis/serving/k8s_validation.go: the user container's port is its first declared port, named "http"
 * and 8080 when none is declared (:512-528); a probe of the user container may name a port only by that name
 * (:875-893, validateProbe with isUserContainer).
 */
function probeErrors(container: Resource): string[] {
  const port = { name: container.ports?.[0]?.name ?? 'http' };
  const errors: string[] = [];
  for (const kind of ['livenessProbe', 'readinessProbe', 'startupProbe']) {
    const p = container[kind]?.httpGet?.port;
    if (typeof p === 'string' && p !== port.name) errors.push(`${kind}: port ${p} must match container port`);
  }
  return errors;
}

t.test('probes, concurrency and security context of both paths', async (t) => {
  const doc = parse(await readFile(path.join(ROOT, 'func.yaml'), 'utf8')) as Resource;
  // func's SetHealthEndpoints (knative/func pkg/k8s/deployer.go:588-616): httpGet on DefaultHTTPPort, 8080 (:39).
  const funcContainer = {
    livenessProbe: { httpGet: { path: doc.deploy.healthEndpoints.liveness, port: 8080 } },
    readinessProbe: { httpGet: { path: doc.deploy.healthEndpoints.readiness, port: 8080 } },
  };
  t.same(probeErrors(funcContainer), [], 'func deploy');
  t.equal(funcContainer.readinessProbe.httpGet.port, 8080, 'func probes the port Knative gives the container');
  // deployer.go:654-656: options.resources.limits.concurrency becomes containerConcurrency.
  t.equal(doc.deploy.options.resources.limits.concurrency, 4, 'containerConcurrency 4, as the knative/ Service');

  for (const overlay of ['gpu', 'cpu']) {
    const service = render(path.join(ROOT, 'knative', 'overlays', overlay)).find((r) => r.kind === 'Service')!;
    const container = service.spec.template.spec.containers[0];
    t.same(probeErrors(container), [], `kubectl: ${overlay}`);
    t.equal(service.spec.template.spec.containerConcurrency, 4, `kubectl: ${overlay}: containerConcurrency`);
  }
  // A named port other than the container's is refused; the rule can fail.
  t.match(probeErrors({ readinessProbe: { httpGet: { port: 'admin' } } }), [/must match container port/]);
});

/**
 * Pod spec fields Knative drops unless a config-features flag allows them (serving pkg/apis/serving/fieldmask.go
 * 242-291, flag names pkg/apis/config/features.go 57-80, defaults :87-108): each field the knative/ Service sets
 * must be enabled by knative/cluster/config-features-patch.yaml, and the patch enables nothing the Service does
 * not use.
 */
const GATED: Record<string, string> = {
  affinity: 'kubernetes.podspec-affinity',
  topologySpreadConstraints: 'kubernetes.podspec-topologyspreadconstraints',
  hostAliases: 'kubernetes.podspec-hostaliases',
  nodeSelector: 'kubernetes.podspec-nodeselector',
  runtimeClassName: 'kubernetes.podspec-runtimeclassname',
  tolerations: 'kubernetes.podspec-tolerations',
  securityContext: 'kubernetes.podspec-securitycontext',
  shareProcessNamespace: 'kubernetes.podspec-shareprocessnamespace',
  priorityClassName: 'kubernetes.podspec-priorityclassname',
  schedulerName: 'kubernetes.podspec-schedulername',
  initContainers: 'kubernetes.podspec-init-containers',
  dnsPolicy: 'kubernetes.podspec-dnspolicy',
  dnsConfig: 'kubernetes.podspec-dnsconfig',
};

t.test('every feature-gated pod spec field is enabled by the cluster patch, and only those', async (t) => {
  const features = parse(await readFile(path.join(ROOT, 'knative', 'cluster', 'config-features-patch.yaml'), 'utf8'))
    .data as Record<string, string>;
  const needed = new Set<string>();
  for (const overlay of ['gpu', 'cpu']) {
    const spec = render(path.join(ROOT, 'knative', 'overlays', overlay)).find((r) => r.kind === 'Service')!.spec
      .template.spec as Resource;
    for (const [field, flag] of Object.entries(GATED)) {
      if (spec[field] === undefined) continue;
      needed.add(flag);
      t.equal(features[flag], 'enabled', `${overlay}: ${field} needs ${flag}`);
    }
    if ((spec.volumes as Resource[]).some((v) => v.persistentVolumeClaim)) {
      needed.add('kubernetes.podspec-persistent-volume-claim');
      needed.add('kubernetes.podspec-persistent-volume-write'); // the outputs claim is writable (k8s_validation.go:114-117)
    }
  }
  t.same(Object.keys(features).sort(), [...needed].sort(), 'the patch enables exactly what is used');
});

t.test('tracing: the component turns it on for both services; Knative is told with the keys it reads', async (t) => {
  const traced = render(path.join(ROOT, 'k8s'), { components: [path.join(ROOT, 'k8s', 'tracing')] });
  const config = traced.find((r) => r.kind === 'ConfigMap' && r.metadata.name === 'yolo-detector-config')!;
  t.match(config.data.OTEL_EXPORTER_OTLP_ENDPOINT, /^http:\/\/.+:4318$/, 'the detector exports over OTLP/HTTP');
  const logging = traced.find((r) => r.kind === 'Deployment' && r.metadata.name === 'yolo-logging')!;
  const env = logging.spec.template.spec.containers[0].env as Resource[];
  t.equal(env.find((e) => e.name === 'OTEL_EXPORTER_OTLP_ENDPOINT')?.value, config.data.OTEL_EXPORTER_OTLP_ENDPOINT);
  const plain = render(path.join(ROOT, 'k8s')).find(
    (r) => r.kind === 'ConfigMap' && r.metadata.name === config.metadata.name,
  )!;
  t.equal(plain.data.OTEL_EXPORTER_OTLP_ENDPOINT, undefined, 'off unless the component is added');

  // serving config/core/configmaps/observability.yaml:133-146 and eventing's :71-84 (config-observability).
  const patch = parse(
    await readFile(path.join(ROOT, 'knative', 'cluster', 'observability-tracing-patch.yaml'), 'utf8'),
  ) as Resource;
  t.same(Object.keys(patch.data).sort(), ['tracing-endpoint', 'tracing-protocol', 'tracing-sampling-rate']);
  t.ok(['http/protobuf', 'grpc'].includes(patch.data['tracing-protocol']), 'a protocol that exports');
  t.match(patch.data['tracing-endpoint'], /\/v1\/traces$/, 'the OTLP/HTTP traces path');
});

/**
 * What func deploy makes of run.envs. ValidateEnvs (knative/func pkg/functions/function_envs.go:121-160) refuses
 * a name given twice (:122-130) or one Kubernetes would not take (:144: utils.ValidateEnvVarName,
 * pkg/utils/names.go:52-53, validation.IsEnvVarName: `[-._a-zA-Z][-._a-zA-Z0-9]*`), and reads a value that starts
 * with "{{" as a reference (:148). ProcessEnvs (pkg/k8s/deployer.go:648, :686-689) copies any other value into the
 * container's env as written.
 */
function funcEnvErrors(envs: { name: string; value: string }[]): string[] {
  const errors: string[] = [];
  const seen = new Set<string>();
  for (const { name, value } of envs) {
    if (seen.has(name)) errors.push(`${name}: duplicate`);
    seen.add(name);
    if (!/^[-._a-zA-Z][-._a-zA-Z0-9]*$/.test(name)) errors.push(`${name}: not an env var name`);
    if (value.startsWith('{{')) errors.push(`${name}: a reference, not the value itself`);
  }
  return errors;
}

t.test("func deploy gives the function func.yaml's envs as written, and the image its own command", async (t) => {
  const doc = parse(await readFile(path.join(ROOT, 'func.yaml'), 'utf8')) as Resource;
  const envs = doc.run.envs as { name: string; value: string }[];
  t.same(funcEnvErrors(envs), [], 'every entry is a plain name and value, so glibc reads MALLOC_* as written');
  t.match(
    funcEnvErrors([...envs, { name: '1MALLOC', value: '{{ env:X }}' }, envs[0]!]),
    [/1MALLOC: not an env var name/, /1MALLOC: a reference/, /duplicate/],
    'the rules do refuse what func refuses',
  );
  // generateNewService (pkg/knative/deployer.go:420-432) sets the image, env and mounts, never a command; the
  // Services kubectl applies set none either, so both run the Dockerfile's CMD (the bundled server).
  for (const overlay of ['gpu', 'cpu']) {
    const service = render(path.join(ROOT, 'knative', 'overlays', overlay)).find((r) => r.kind === 'Service')!;
    const container = service.spec.template.spec.containers[0] as Resource;
    t.same([container.command, container.args], [undefined, undefined], `kubectl: ${overlay}: the image's CMD`);
  }
});
