import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { parse, parseAllDocuments } from 'yaml';

/**
 * A small kustomize renderer for the tests, covering what this repository's kustomizations use: resources
 * (files and folders), components, images (newName/newTag), and patches (JSON 6902 operations on a target, or a
 * strategic-merge `$patch: delete`). Anything else it meets is an error, so a new feature cannot be silently
 * ignored. A listed file that does not exist is an error too.
 */

export type Resource = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export function readYamlDocuments(file: string): Resource[] {
  const docs = parseAllDocuments(readFileSync(file, 'utf8'));
  for (const d of docs) if (d.errors.length) throw new Error(`${file}: ${d.errors[0]!.message}`);
  return docs.map((d) => d.toJS() as Resource).filter((d) => d !== null && d !== undefined);
}

const KNOWN = new Set(['apiVersion', 'kind', 'resources', 'components', 'images', 'patches']);

interface Target {
  group?: string;
  kind?: string;
  name?: string;
}

const matches = (r: Resource, t: Target): boolean =>
  (!t.kind || r.kind === t.kind) &&
  (!t.name || r.metadata?.name === t.name) &&
  (!t.group || String(r.apiVersion).startsWith(`${t.group}/`));

function pointer(p: string): string[] {
  return p
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

export function applyJsonPatch(doc: Resource, ops: { op: string; path: string; value?: unknown }[]): void {
  for (const op of ops) {
    const keys = pointer(op.path);
    const last = keys.pop()!;
    let parent: Resource = doc;
    for (const k of keys) {
      if (parent[k] === undefined) throw new Error(`patch ${op.op} ${op.path}: no ${k}`);
      parent = parent[k];
    }
    const isArray = Array.isArray(parent);
    if (op.op === 'remove') {
      if (!(last in parent)) throw new Error(`patch remove ${op.path}: nothing there`);
      if (isArray) (parent as unknown as unknown[]).splice(Number(last), 1);
      else delete parent[last];
    } else if (op.op === 'replace') {
      if (!(last in parent)) throw new Error(`patch replace ${op.path}: nothing there`);
      parent[last] = op.value;
    } else if (op.op === 'add') {
      if (isArray && last === '-') (parent as unknown as unknown[]).push(op.value);
      else if (isArray) (parent as unknown as unknown[]).splice(Number(last), 0, op.value);
      else parent[last] = op.value;
    } else {
      throw new Error(`patch op ${op.op} is not supported by the test renderer`);
    }
  }
}

function applyPatches(
  resources: Resource[],
  patches: { target?: Target; patch?: string; path?: string }[],
  dir: string,
): Resource[] {
  let out = resources;
  for (const p of patches) {
    const text = p.patch ?? readFileSync(path.join(dir, p.path!), 'utf8');
    const body = parse(text) as unknown;
    if (Array.isArray(body)) {
      const targets = out.filter((r) => matches(r, p.target ?? {}));
      if (targets.length === 0) throw new Error(`${dir}: patch target ${JSON.stringify(p.target)} matches nothing`);
      for (const r of targets) applyJsonPatch(r, body);
    } else {
      const sm = body as Resource;
      if (sm.$patch !== 'delete') throw new Error(`${dir}: only $patch: delete strategic-merge patches are supported`);
      const before = out.length;
      out = out.filter((r) => !(r.kind === sm.kind && r.metadata?.name === sm.metadata?.name));
      if (out.length === before)
        throw new Error(`${dir}: $patch: delete of ${sm.kind}/${sm.metadata?.name} matches nothing`);
    }
  }
  return out;
}

/** Renders a kustomization folder to its resources, as `kubectl kustomize` would for these features. */
export function render(dir: string, extra: { components?: string[] } = {}): Resource[] {
  const file = path.join(dir, 'kustomization.yaml');
  if (!existsSync(file)) throw new Error(`${dir} has no kustomization.yaml`);
  const k = parse(readFileSync(file, 'utf8')) as Resource;
  for (const key of Object.keys(k))
    if (!KNOWN.has(key)) throw new Error(`${file}: ${key} is not supported by the test renderer`);
  let resources: Resource[] = [];
  for (const entry of (k.resources ?? []) as string[]) {
    const full = path.join(dir, entry);
    if (!existsSync(full)) throw new Error(`${file} lists ${entry}, which does not exist`);
    resources.push(...(statSync(full).isDirectory() ? render(full) : readYamlDocuments(full)));
  }
  for (const c of [...((k.components ?? []) as string[]).map((c) => path.join(dir, c)), ...(extra.components ?? [])]) {
    const comp = parse(readFileSync(path.join(c, 'kustomization.yaml'), 'utf8')) as Resource;
    if (comp.kind !== 'Component') throw new Error(`${c} is not a Component`);
    resources = applyPatches(resources, comp.patches ?? [], c);
  }
  for (const image of (k.images ?? []) as { name: string; newName?: string; newTag?: string }[]) {
    for (const r of resources) {
      for (const c of podSpec(r)?.containers ?? []) {
        const [name] = String(c.image).split(':');
        if (name === image.name) c.image = `${image.newName ?? name}:${image.newTag}`;
      }
    }
  }
  return applyPatches(resources, k.patches ?? [], dir);
}

/** The pod spec of a workload (Pod, Deployment, Job, Knative Service), or undefined. */
export function podSpec(r: Resource): Resource | undefined {
  if (r.kind === 'Pod') return r.spec;
  if (['Deployment', 'Job', 'StatefulSet', 'DaemonSet'].includes(r.kind)) return r.spec?.template?.spec;
  if (r.kind === 'Service' && String(r.apiVersion).startsWith('serving.knative.dev/')) return r.spec?.template?.spec;
  return undefined;
}

/** The labels a workload's pods carry (Knative adds serving.knative.dev/service to its pods). */
export function podLabels(r: Resource): Record<string, string> {
  const own = (r.kind === 'Pod' ? r.metadata?.labels : r.spec?.template?.metadata?.labels) ?? {};
  return String(r.apiVersion).startsWith('serving.knative.dev/')
    ? { ...own, 'serving.knative.dev/service': r.metadata.name }
    : own;
}
