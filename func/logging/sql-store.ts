import type { Db } from './db.js';
import { MIGRATIONS } from './schema.js';
import { queryStats } from './stats-query.js';
import type {
  CompletedEvent,
  Cursor,
  DetectionQuery,
  DetectionStore,
  FailedEvent,
  Page,
  Stats,
  StoredFailure,
  StoredRequest,
} from './store.js';

/** Data text kept for a dead-lettered event: enough to diagnose, bounded so a flood cannot fill the disk. */
const MAX_FAILURE_DATA = 64 * 1024;

const hourOf = (ms: number): string => new Date(ms).toISOString().slice(0, 13) + ':00:00Z';
const n = (v: unknown): number => Number(v);

interface RequestRow {
  id: unknown;
  event_source: string;
  event_id: string;
  event_time_ms: unknown;
  subject: string | null;
  request_id: string;
  request_source: string;
  model_name: string;
  model_sha256: string;
  image_width: unknown;
  image_height: unknown;
  input_path: string | null;
  input_content_type: string | null;
  input_bytes: unknown;
  output_image: string | null;
  output_json: string;
  timings: string;
  detection_count: unknown;
}

interface DetectionRow {
  request_pk: unknown;
  class_id: unknown;
  label: string;
  confidence: unknown;
  x1: unknown;
  y1: unknown;
  x2: unknown;
  y2: unknown;
}

/** The one store: the same SQL on SQLite and PostgreSQL through a Db adapter. */
export class SqlDetectionStore implements DetectionStore {
  constructor(private readonly db: Db) {}

  get backend(): 'sqlite' | 'postgres' {
    return this.db.dialect;
  }

  async migrate(): Promise<void> {
    await this.db.query(
      'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at_ms BIGINT NOT NULL)',
    );
    for (const m of MIGRATIONS) {
      await this.db.transaction(async (tx) => {
        // On PostgreSQL, replicas starting together serialise here; the loser sees the version and skips.
        if (tx.dialect === 'postgres') await tx.query('LOCK TABLE schema_migrations IN EXCLUSIVE MODE');
        const done = await tx.query('SELECT version FROM schema_migrations WHERE version = ?', [m.version]);
        if (done.length > 0) return;
        for (const statement of m.sql(tx.dialect)) await tx.query(statement);
        await tx.query('INSERT INTO schema_migrations (version, name, applied_at_ms) VALUES (?, ?, ?)', [
          m.version,
          m.name,
          Date.now(),
        ]);
      });
    }
  }

  async storeEvent(e: CompletedEvent): Promise<'stored' | 'duplicate'> {
    const r = e.record;
    const timeMs = e.time.getTime();
    return this.db.transaction(async (tx) => {
      const inserted = await tx.query<{ id: unknown }>(
        `INSERT INTO requests (event_source, event_id, event_time_ms, event_hour, subject, request_id, request_source,
           model_name, model_sha256, image_width, image_height, input_path, input_content_type, input_bytes,
           output_image, output_json, total_ms, timings, detection_count, received_at_ms)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (event_source, event_id) DO NOTHING
         RETURNING id`,
        [
          e.eventSource,
          e.eventId,
          timeMs,
          hourOf(timeMs),
          e.subject ?? null,
          r.requestId,
          r.requestSource,
          r.model.name,
          r.model.sha256,
          r.image.width,
          r.image.height,
          'path' in r.input ? r.input.path : null,
          'contentType' in r.input ? r.input.contentType : null,
          'bytes' in r.input ? r.input.bytes : null,
          r.output.image,
          r.output.json,
          r.timings.totalMs,
          JSON.stringify(r.timings),
          r.detections.length,
          Date.now(),
        ],
      );
      if (inserted.length === 0) return 'duplicate';
      const id = n(inserted[0]!.id);
      // Batches keep each statement's parameter count well under both databases' limits.
      for (let start = 0; start < r.detections.length; start += 100) {
        const batch = r.detections.slice(start, start + 100);
        await tx.query(
          `INSERT INTO detections (request_pk, ordinal, class_id, label, confidence, x1, y1, x2, y2) VALUES ${batch
            .map(() => '(?, ?, ?, ?, ?, ?, ?, ?, ?)')
            .join(', ')}`,
          batch.flatMap((d, i) => [
            id,
            start + i,
            d.classId,
            d.label,
            d.confidence,
            d.box.x1,
            d.box.y1,
            d.box.x2,
            d.box.y2,
          ]),
        );
      }
      return 'stored';
    });
  }

  async storeFailure(f: FailedEvent): Promise<'stored' | 'duplicate'> {
    const rows = await this.db.query(
      `INSERT INTO failures (event_source, event_id, event_type, event_time_ms, received_at_ms, error_code, error_dest,
         error_data, data, extensions)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (event_source, event_id) DO NOTHING
       RETURNING id`,
      [
        f.eventSource,
        f.eventId,
        f.eventType,
        f.time?.getTime() ?? null,
        Date.now(),
        f.errorCode ?? null,
        f.errorDest ?? null,
        f.errorData?.slice(0, MAX_FAILURE_DATA) ?? null,
        f.data?.slice(0, MAX_FAILURE_DATA) ?? null,
        JSON.stringify(f.extensions),
      ],
    );
    return rows.length > 0 ? 'stored' : 'duplicate';
  }

  private async withDetections(rows: RequestRow[]): Promise<StoredRequest[]> {
    if (rows.length === 0) return [];
    const ids = rows.map((r) => n(r.id));
    const detections = await this.db.query<DetectionRow>(
      `SELECT request_pk, class_id, label, confidence, x1, y1, x2, y2 FROM detections
       WHERE request_pk IN (${ids.map(() => '?').join(', ')}) ORDER BY request_pk, ordinal`,
      ids,
    );
    const byRequest = new Map<number, StoredRequest['detections']>();
    for (const d of detections) {
      const list = byRequest.get(n(d.request_pk)) ?? [];
      list.push({
        classId: n(d.class_id),
        label: d.label,
        confidence: n(d.confidence),
        box: { x1: n(d.x1), y1: n(d.y1), x2: n(d.x2), y2: n(d.y2) },
      });
      byRequest.set(n(d.request_pk), list);
    }
    return rows.map((r) => ({
      id: n(r.id),
      eventId: r.event_id,
      eventSource: r.event_source,
      time: new Date(n(r.event_time_ms)).toISOString(),
      subject: r.subject,
      requestId: r.request_id,
      requestSource: r.request_source,
      model: { name: r.model_name, sha256: r.model_sha256 },
      image: { width: n(r.image_width), height: n(r.image_height) },
      input:
        r.input_path !== null
          ? { path: r.input_path }
          : { contentType: r.input_content_type ?? '', bytes: n(r.input_bytes) },
      output: { image: r.output_image, json: r.output_json },
      timings: JSON.parse(r.timings) as StoredRequest['timings'],
      detectionCount: n(r.detection_count),
      detections: byRequest.get(n(r.id)) ?? [],
    }));
  }

  async listRequests(q: DetectionQuery): Promise<Page<StoredRequest>> {
    const where: string[] = [];
    const params: unknown[] = [];
    if (q.since) {
      where.push('r.event_time_ms >= ?');
      params.push(q.since.getTime());
    }
    if (q.until) {
      where.push('r.event_time_ms < ?');
      params.push(q.until.getTime());
    }
    if (q.label !== undefined || q.minConfidence !== undefined) {
      const cond = ['d.request_pk = r.id'];
      if (q.label !== undefined) {
        cond.push('d.label = ?');
        params.push(q.label);
      }
      if (q.minConfidence !== undefined) {
        cond.push('d.confidence >= ?');
        params.push(q.minConfidence);
      }
      where.push(`EXISTS (SELECT 1 FROM detections d WHERE ${cond.join(' AND ')})`);
    }
    if (q.cursor) {
      where.push('(r.event_time_ms < ? OR (r.event_time_ms = ? AND r.id < ?))');
      params.push(q.cursor.timeMs, q.cursor.timeMs, q.cursor.id);
    }
    params.push(q.limit + 1);
    const rows = await this.db.query<RequestRow>(
      `SELECT r.* FROM requests r ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
       ORDER BY r.event_time_ms DESC, r.id DESC LIMIT ?`,
      params,
    );
    const page = rows.slice(0, q.limit);
    const last = page[page.length - 1];
    return {
      items: await this.withDetections(page),
      next: rows.length > q.limit && last ? { timeMs: n(last.event_time_ms), id: n(last.id) } : undefined,
    };
  }

  async getRequest(id: number): Promise<StoredRequest | undefined> {
    const rows = await this.db.query<RequestRow>('SELECT * FROM requests WHERE id = ?', [id]);
    return (await this.withDetections(rows))[0];
  }

  async listFailures(limit: number, cursor?: Cursor): Promise<Page<StoredFailure>> {
    const rows = await this.db.query<Record<string, unknown>>(
      `SELECT * FROM failures ${cursor ? 'WHERE (received_at_ms < ? OR (received_at_ms = ? AND id < ?))' : ''}
       ORDER BY received_at_ms DESC, id DESC LIMIT ?`,
      cursor ? [cursor.timeMs, cursor.timeMs, cursor.id, limit + 1] : [limit + 1],
    );
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    return {
      items: page.map((r) => ({
        id: n(r.id),
        eventId: r.event_id as string,
        eventSource: r.event_source as string,
        eventType: r.event_type as string,
        time: r.event_time_ms === null ? null : new Date(n(r.event_time_ms)).toISOString(),
        receivedAt: new Date(n(r.received_at_ms)).toISOString(),
        errorCode: r.error_code as string | null,
        errorDest: r.error_dest as string | null,
        errorData: r.error_data as string | null,
        data: r.data as string | null,
        extensions: JSON.parse(r.extensions as string) as Record<string, string>,
      })),
      next: rows.length > limit && last ? { timeMs: n(last.received_at_ms), id: n(last.id) } : undefined,
    };
  }

  stats(since?: Date, until?: Date): Promise<Stats> {
    return queryStats(this.db, since, until);
  }

  async ping(): Promise<void> {
    await this.db.query('SELECT 1 AS ok');
  }

  async close(): Promise<void> {
    await this.db.close();
  }
}
