import { readFileSync } from 'node:fs';
import path from 'node:path';
import AjvModule from 'ajv';
import { parse } from 'yaml';
import { Job } from 'kubernetes-models/batch/v1';
import { Deployment } from 'kubernetes-models/apps/v1';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import {
  ConfigMap,
  Namespace,
  PersistentVolume,
  PersistentVolumeClaim,
  Pod,
  Service,
  ServiceAccount,
} from 'kubernetes-models/v1';
import {
  PodMonitor,
  PrometheusRule,
  ServiceMonitor,
} from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';
import type { Resource } from './kustomize.js';
import { SHARED } from './paths.js';

/**
 * Validation of every manifest against its real schema: the Knative CRDs shipped in ../shared/schemas, and
 * Kubernetes' own schemas as the kubernetes-models packages carry them. The CRD schemas are made strict about
 * unknown fields (as `kubectl apply --validate=strict` is), except where the schema says it preserves them.
 */

type Json = Record<string, unknown>;

function strictify(schema: Json): Json {
  const out: Json = { ...schema };
  if (out['x-kubernetes-int-or-string']) {
    delete out.type;
    out.anyOf = [{ type: 'integer' }, { type: 'string' }];
  }
  if (out.properties) {
    const props: Json = {};
    for (const [k, v] of Object.entries(out.properties as Json)) props[k] = strictify(v as Json);
    out.properties = props;
    if (!out['x-kubernetes-preserve-unknown-fields'] && out.additionalProperties === undefined) {
      out.additionalProperties = false;
    }
  }
  if (out.items && typeof out.items === 'object') out.items = strictify(out.items as Json);
  if (out.additionalProperties && typeof out.additionalProperties === 'object') {
    out.additionalProperties = strictify(out.additionalProperties as Json);
  }
  return out;
}

// A CommonJS package: under nodenext its class is the `default` export of the module object.
const ajv = new AjvModule.default({ allErrors: true, strict: false });

function crdValidator(file: string): (doc: Resource) => string[] {
  const crd = parse(readFileSync(path.join(SHARED, 'schemas', 'knative', file), 'utf8')) as Json;
  const versions = (crd.spec as Json).versions as { name: string; schema: { openAPIV3Schema: Json } }[];
  const v1 = versions.find((v) => v.name === 'v1')!;
  const schema = strictify(v1.schema.openAPIV3Schema);
  // Every object has these, whether or not a CRD declares them; ObjectMeta is the API server's to check.
  Object.assign(schema.properties as Json, {
    apiVersion: { type: 'string' },
    kind: { type: 'string' },
    metadata: { type: 'object' },
  });
  const validate = ajv.compile(schema);
  return (doc) =>
    validate(doc)
      ? []
      : (validate.errors ?? []).map(
          (e: { instancePath: string; message?: string }) => `${e.instancePath} ${e.message}`,
        );
}

const knative: Record<string, (doc: Resource) => string[]> = {
  'serving.knative.dev/v1/Service': crdValidator('serving-service.crd.yaml'),
  'eventing.knative.dev/v1/Broker': crdValidator('eventing-broker.crd.yaml'),
  'eventing.knative.dev/v1/Trigger': crdValidator('eventing-trigger.crd.yaml'),
};

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const models: Record<string, new (data: any) => { validate(): void }> = {
  'v1/Namespace': Namespace,
  'v1/ServiceAccount': ServiceAccount,
  'v1/ConfigMap': ConfigMap,
  'v1/PersistentVolume': PersistentVolume,
  'v1/PersistentVolumeClaim': PersistentVolumeClaim,
  'v1/Service': Service,
  'v1/Pod': Pod,
  'apps/v1/Deployment': Deployment,
  'batch/v1/Job': Job,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
  'monitoring.coreos.com/v1/PodMonitor': PodMonitor,
  'monitoring.coreos.com/v1/ServiceMonitor': ServiceMonitor,
  'monitoring.coreos.com/v1/PrometheusRule': PrometheusRule,
};

/** The schema errors of one resource; throws for a kind that has no schema here (so none goes unchecked). */
export function schemaErrors(doc: Resource): string[] {
  const key = `${doc.apiVersion}/${doc.kind}`;
  const crd = knative[key];
  if (crd) return crd(doc);
  const Model = models[key];
  if (!Model) throw new Error(`no schema for ${key}`);
  try {
    new Model(doc).validate();
    return [];
  } catch (err) {
    return [(err as Error).message];
  }
}
