import type { Db } from './db.js';
import type { Stats } from './store.js';

/** GET /stats: totals, per label and per hour, and latency percentiles, in the window given. */
const n = (v: unknown): number => Number(v);

export async function queryStats(db: Db, since?: Date, until?: Date): Promise<Stats> {
  const where: string[] = [];
  const params: unknown[] = [];
  if (since) {
    where.push('event_time_ms >= ?');
    params.push(since.getTime());
  }
  if (until) {
    where.push('event_time_ms < ?');
    params.push(until.getTime());
  }
  const filter = where.length ? `WHERE ${where.join(' AND ')}` : '';
  const rFilter = where.length ? `WHERE ${where.map((w) => `r.${w}`).join(' AND ')}` : '';
  const [totals] = await db.query<{ requests: unknown; detections: unknown }>(
    `SELECT COUNT(*) AS requests, COALESCE(SUM(detection_count), 0) AS detections FROM requests ${filter}`,
    params,
  );
  const requests = n(totals?.requests ?? 0);
  const perLabel = await db.query<{ label: string; count: unknown }>(
    `SELECT d.label AS label, COUNT(*) AS count FROM detections d JOIN requests r ON r.id = d.request_pk ${rFilter}
     GROUP BY d.label ORDER BY count DESC, label`,
    params,
  );
  const perHour = await db.query<{ hour: string; requests: unknown; detections: unknown }>(
    `SELECT event_hour AS hour, COUNT(*) AS requests, SUM(detection_count) AS detections FROM requests ${filter}
     GROUP BY event_hour ORDER BY event_hour`,
    params,
  );
  // Nearest-rank percentiles, one indexed row each, so they stay cheap on a large table.
  const percentile = async (p: number): Promise<number | null> => {
    if (requests === 0) return null;
    const offset = Math.max(0, Math.ceil(p * requests) - 1);
    const rows = await db.query<{ total_ms: unknown }>(
      `SELECT total_ms FROM requests ${filter} ORDER BY total_ms LIMIT 1 OFFSET ?`,
      [...params, offset],
    );
    return rows[0] ? n(rows[0].total_ms) : null;
  };
  return {
    requests,
    detections: n(totals?.detections ?? 0),
    perLabel: perLabel.map((r) => ({ label: r.label, count: n(r.count) })),
    perHour: perHour.map((r) => ({ hour: r.hour, requests: n(r.requests), detections: n(r.detections) })),
    totalMs: { p50: await percentile(0.5), p95: await percentile(0.95) },
  };
}
