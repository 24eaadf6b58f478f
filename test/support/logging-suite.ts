import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import t from 'tap';
import { completedEvent, realRecords, type EventMessage } from './events.js';
import { startServer, type RunningServer } from './server-process.js';
import { TcpProxy } from './tcp-proxy.js';

/**
 * The logging service's behaviour, one suite for both backends: the real service process on a real SQLite file
 * or a real PostgreSQL database, fed with real detector reply events.
 */

export const PG_ADMIN_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

interface Backend {
  name: 'sqlite' | 'postgres';
  env: Record<string, string>;
  /** Makes the database unavailable to the service, and brings it back. */
  outage(): Promise<{ restore(): Promise<void> }>;
  cleanup(): Promise<void>;
}

async function sqliteBackend(): Promise<Backend> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'kyolo-logging-'));
  const file = path.join(dir, 'logs', 'detections.db');
  return {
    name: 'sqlite',
    env: { DATABASE_PATH: file, DATABASE_BUSY_TIMEOUT_MS: '200' },
    // An embedded database has no server to stop; its outage is another process holding the write lock
    // past the busy timeout, as a stuck backup or a second writer would.
    async outage() {
      const holder = new Database(file, { timeout: 1000 });
      holder.exec('BEGIN EXCLUSIVE');
      return {
        async restore() {
          holder.exec('COMMIT');
          holder.close();
        },
      };
    },
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}

async function postgresBackend(): Promise<Backend> {
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
  await admin.connect();
  const name = `kyolo_test_${process.pid}_${Date.now()}`;
  await admin.query(`CREATE DATABASE ${name}`);
  const target = new URL(PG_ADMIN_URL);
  const proxy = new TcpProxy(target.hostname, Number(target.port || 5432));
  await proxy.start();
  const url = new URL(PG_ADMIN_URL);
  url.port = String(proxy.port);
  url.pathname = `/${name}`;
  return {
    name: 'postgres',
    env: { DATABASE_URL: url.toString() },
    async outage() {
      await proxy.stop();
      return { restore: () => proxy.start() };
    },
    async cleanup() {
      await proxy.stop();
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await admin.end();
    },
  };
}

export async function postgresReachable(): Promise<boolean> {
  const c = new pg.Client({ connectionString: PG_ADMIN_URL, connectionTimeoutMillis: 2000 });
  try {
    await c.connect();
    await c.end();
    return true;
  } catch {
    return false;
  }
}

async function postAll(url: string, events: EventMessage[], concurrency: number): Promise<number[]> {
  const statuses: number[] = new Array(events.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < events.length; i = next++) {
      const e = events[i]!;
      const res = await fetch(url, { method: 'POST', headers: e.headers, body: e.body });
      await res.arrayBuffer();
      statuses[i] = res.status;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return statuses;
}

const count = (statuses: number[], status: number): number => statuses.filter((s) => s === status).length;

export function runLoggingSuite(kind: 'sqlite' | 'postgres'): void {
  t.test(`logging service on ${kind}`, async (t) => {
    const backend = kind === 'sqlite' ? await sqliteBackend() : await postgresBackend();
    t.teardown(() => backend.cleanup());
    const records = await realRecords();
    const start = (): Promise<RunningServer> => startServer('logging', { env: backend.env });
    let server = await start();
    t.teardown(() => server.stop('SIGKILL'));
    const url = (p: string): string => server.url + p;
    // The replies are arbitrary JSON that each test inspects field by field.
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const get = async (p: string): Promise<{ status: number; body: any }> => {
      const res = await fetch(url(p));
      return { status: res.status, body: await res.json() };
    };

    // A controlled data set: 3 hours, one event per 10 minutes, cycling through the real records.
    const base = Date.parse('2026-02-03T10:00:00Z');
    const dataset = Array.from({ length: 18 }, (_, i) =>
      completedEvent(records[i % records.length]!, i, new Date(base + i * 10 * 60_000)),
    );

    t.test('events are stored and answered 202 with an empty body; redelivery stores one row', async (t) => {
      const statuses = await postAll(url('/'), dataset, 4);
      t.same(
        statuses,
        dataset.map(() => 202),
      );
      const again = await fetch(url('/'), { method: 'POST', headers: dataset[0]!.headers, body: dataset[0]!.body });
      t.equal(again.status, 202, 'a redelivered event is still 202');
      t.equal(await again.text(), '', 'with an empty body');
      t.notOk(again.headers.get('ce-type'), 'and never an event');
      const concurrentDuplicates = await postAll(
        url('/'),
        Array.from({ length: 10 }, () => dataset[1]!),
        10,
      );
      t.same(concurrentDuplicates, Array(10).fill(202), 'ten concurrent deliveries of one event: all 202');
      const stats = await get('/stats');
      t.equal(stats.body.requests, 18, 'and one row each');
    });

    t.test('structured mode is accepted too', async (t) => {
      const e = completedEvent(records[0]!, 1000, new Date(base - 3600_000));
      const structured = {
        specversion: '1.0',
        id: e.headers['ce-id'],
        source: e.headers['ce-source'],
        type: e.headers['ce-type'],
        time: e.headers['ce-time'],
        subject: e.headers['ce-subject'],
        datacontenttype: 'application/json',
        data: JSON.parse(e.body),
      };
      const res = await fetch(url('/'), {
        method: 'POST',
        headers: { 'content-type': 'application/cloudevents+json' },
        body: JSON.stringify(structured),
      });
      t.equal(res.status, 202);
      dataset.push(e);
    });

    t.test('query filters and pagination return exactly the right rows', async (t) => {
      const all = dataset.slice().sort((a, b) => Date.parse(b.headers['ce-time']!) - Date.parse(a.headers['ce-time']!));
      // Page through everything, 5 at a time.
      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const q: string = `/detections?limit=5${cursor ? `&cursor=${cursor}` : ''}`;
        const page = await get(q);
        t.equal(page.status, 200);
        seen.push(...page.body.items.map((i: { eventId: string }) => i.eventId));
        cursor = page.body.nextCursor;
        pages++;
      } while (cursor && pages < 20);
      t.same(
        seen,
        all.map((e) => e.id),
        'newest first, every row once, across pages',
      );
      t.equal(pages, Math.ceil(all.length / 5));

      const expect = (pred: (e: EventMessage) => boolean): string[] => all.filter(pred).map((e) => e.id);
      const ids = async (q: string): Promise<string[]> =>
        (await get(`/detections?limit=500&${q}`)).body.items.map((i: { eventId: string }) => i.eventId);
      t.same(
        await ids('label=bus'),
        expect((e) => e.record.detections.some((d) => d.label === 'bus')),
        'label',
      );
      t.same(
        await ids('label=person&minConfidence=0.85'),
        expect((e) => e.record.detections.some((d) => d.label === 'person' && d.confidence >= 0.85)),
        'label and minConfidence on the same detection',
      );
      t.same(
        await ids('minConfidence=0.88'),
        expect((e) => e.record.detections.some((d) => d.confidence >= 0.88)),
        'minConfidence alone',
      );
      const since = new Date(base + 30 * 60_000).toISOString();
      const until = new Date(base + 90 * 60_000).toISOString();
      t.same(
        await ids(`since=${since}&until=${until}`),
        expect((e) => e.headers['ce-time']! >= since && e.headers['ce-time']! < until),
        'since (inclusive) and until (exclusive)',
      );
      const one = (await get('/detections?limit=1')).body.items[0];
      const byId = await get(`/detections/${one.id}`);
      t.same(byId.body, one, 'GET /detections/:id gives the same record');
      const source = all.find((e) => e.id === one.eventId)!;
      t.same(one.detections, source.record.detections, 'with every detection as the detector sent it');
      t.equal(one.detectionCount, source.record.detections.length);
      t.same(one.timings, source.record.timings);
      t.equal((await get('/detections/999999')).status, 404);
      for (const bad of [
        '/detections?limit=0',
        '/detections?limit=501',
        '/detections?since=yesterday',
        '/detections?colour=red',
        '/detections?cursor=nope',
        '/detections/abc',
        '/stats?until=soon',
      ]) {
        const res = await get(bad);
        t.equal(res.status, 400, `${bad}: 400`);
        t.equal(res.body.code, 'INVALID_QUERY');
      }
    });

    t.test('stats: counts per label and per hour, p50 and p95 of totalMs', async (t) => {
      const stats = (await get(`/stats?since=${new Date(base).toISOString()}`)).body;
      const window = dataset.filter((e) => Date.parse(e.headers['ce-time']!) >= base);
      t.equal(stats.requests, window.length);
      const labels = new Map<string, number>();
      for (const e of window) for (const d of e.record.detections) labels.set(d.label, (labels.get(d.label) ?? 0) + 1);
      t.same(
        Object.fromEntries(stats.perLabel.map((l: { label: string; count: number }) => [l.label, l.count])),
        Object.fromEntries(labels),
      );
      t.same(
        stats.perHour.map((h: { hour: string; requests: number }) => [h.hour, h.requests]),
        [
          ['2026-02-03T10:00:00Z', 6],
          ['2026-02-03T11:00:00Z', 6],
          ['2026-02-03T12:00:00Z', 6],
        ],
      );
      const sorted = window.map((e) => e.record.timings.totalMs).sort((a, b) => a - b);
      const rank = (p: number): number => sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)]!;
      t.same(stats.totalMs, { p50: rank(0.5), p95: rank(0.95) });
    });

    t.test('malformed events are 400 with the reason', async (t) => {
      const e = dataset[0]!;
      const cases: [string, RequestInit, string, RegExp][] = [
        [
          'wrong type',
          { headers: { ...e.headers, 'ce-type': 'yolo.detection.requested' }, body: e.body },
          'WRONG_EVENT_TYPE',
          /takes "yolo\.detection\.completed"/,
        ],
        ['no id', { headers: { ...e.headers, 'ce-id': '' }, body: e.body }, 'INVALID_CLOUDEVENT', /no id/],
        ['not JSON', { headers: e.headers, body: '{"requestId":' }, 'INVALID_DATA', /not valid JSON/],
        [
          'no detections',
          { headers: e.headers, body: JSON.stringify({ ...JSON.parse(e.body), detections: undefined }) },
          'INVALID_DATA',
          /detections must be an array/,
        ],
        [
          'a bad box',
          {
            headers: e.headers,
            body: JSON.stringify({
              ...JSON.parse(e.body),
              detections: [{ classId: 0, label: 'person', confidence: 0.5, box: { x1: 1 } }],
            }),
          },
          'INVALID_DATA',
          /detections\[0\]\.box/,
        ],
      ];
      for (const [name, init, code, reason] of cases) {
        const res = await fetch(url('/'), { method: 'POST', ...init });
        t.equal(res.status, 400, `${name}: 400`);
        const body = await res.json();
        t.equal(body.code, code, `${name}: ${code}`);
        t.match(body.error, reason);
      }
    });

    t.test('dead-lettered events are recorded under /failures, once', async (t) => {
      const failure = {
        method: 'POST',
        headers: {
          'ce-specversion': '1.0',
          'ce-id': 'dead-1',
          'ce-source': '/tests/broker',
          'ce-type': 'yolo.detection.requested',
          'ce-knativeerrorcode': '400',
          'ce-knativeerrordest': 'http://yolo-detector.knative-yolo.svc.cluster.local',
          'ce-knativeerrordata': Buffer.from('{"error":"The image is corrupt.","code":"UNDECODABLE_IMAGE"}').toString(
            'base64',
          ),
          'content-type': 'image/jpeg',
        },
        body: Buffer.from([0xff, 0xd8, 0x00]),
      };
      const first = await fetch(url('/failures'), failure);
      const second = await fetch(url('/failures'), failure);
      t.same([first.status, second.status], [202, 202]);
      const list = (await get('/failures')).body.items;
      t.equal(list.length, 1, 'stored once');
      t.match(list[0], {
        eventId: 'dead-1',
        eventSource: '/tests/broker',
        eventType: 'yolo.detection.requested',
        errorCode: '400',
        errorDest: 'http://yolo-detector.knative-yolo.svc.cluster.local',
        errorData: '{"error":"The image is corrupt.","code":"UNDECODABLE_IMAGE"}',
        data: 'base64:/9gA',
      });
    });

    t.test('500 concurrent posts are all stored', async (t) => {
      const before = (await get('/stats')).body.requests;
      const burst = Array.from({ length: 500 }, (_, i) =>
        completedEvent(records[i % records.length]!, 10_000 + i, new Date(base + 86400_000 + i * 1000)),
      );
      const statuses = await postAll(url('/'), burst, 50);
      t.equal(count(statuses, 202), 500, 'every post answered 202');
      t.equal((await get('/stats')).body.requests, before + 500, 'and every one stored');
    });

    t.test(
      'the database stops mid-stream: 503s, nothing acknowledged; once back, redelivery stores every event',
      async (t) => {
        const before = (await get('/stats')).body.requests;
        const stream = Array.from({ length: 30 }, (_, i) =>
          completedEvent(records[i % records.length]!, 20_000 + i, new Date(base + 2 * 86400_000 + i * 1000)),
        );
        const firstPart = await postAll(url('/'), stream.slice(0, 10), 2);
        t.same(firstPart, Array(10).fill(202));
        const outage = await backend.outage();
        const during = await postAll(url('/'), stream.slice(10), 4);
        const ready = await fetch(url('/health/readiness'));
        await outage.restore();
        t.equal(count(during, 202), 0, 'no event is acknowledged while the database is down');
        t.equal(count(during, 503), 20, 'every one is a 503 (the Broker retries)');
        if (kind === 'postgres') t.equal(ready.status, 503, 'readiness is false while the database is down');
        // The Broker redelivers everything that was not acknowledged (here: the whole stream, again).
        let redelivered: number[] = [];
        for (let attempt = 0; attempt < 20; attempt++) {
          redelivered = await postAll(url('/'), stream, 4);
          if (count(redelivered, 202) === stream.length) break;
          await new Promise((r) => setTimeout(r, 250));
        }
        t.same(redelivered, Array(30).fill(202), 'once the database is back, redelivery is accepted');
        t.equal((await get('/stats')).body.requests, before + 30, 'every event stored exactly once');
        const metrics = await (await fetch(url('/metrics'))).text();
        t.match(metrics, /^yolo_log_events_total\{outcome="unavailable"\} [1-9]/m);
        t.match(metrics, /^yolo_log_events_total\{outcome="stored"\} [1-9]/m);
        t.match(metrics, /^yolo_log_write_duration_seconds_count [1-9]/m);
      },
    );

    t.test('a restart keeps the data', async (t) => {
      const before = (await get('/stats')).body;
      t.equal(await server.stop('SIGTERM'), 0, 'SIGTERM: exit 0');
      server = await start();
      const after = (await get('/stats')).body;
      t.same(after, before, 'the same statistics after a restart');
      t.equal((await get('/health/readiness')).body.backend, kind);
    });
  });
}
