/**
 * The schema, as ordered migrations shared by both backends. The SQL is the common subset of SQLite and
 * PostgreSQL; only the identity column differs. Times are stored as epoch milliseconds (portable, sortable)
 * with the UTC hour alongside for the per-hour statistics.
 */
export type Dialect = 'sqlite' | 'postgres';

const IDENTITY: Record<Dialect, string> = {
  sqlite: 'INTEGER PRIMARY KEY AUTOINCREMENT',
  postgres: 'BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY',
};

export const MIGRATIONS: readonly { version: number; name: string; sql: (d: Dialect) => string[] }[] = [
  {
    version: 1,
    name: 'requests, detections and failures',
    sql: (d) => [
      `CREATE TABLE requests (
        id ${IDENTITY[d]},
        event_source TEXT NOT NULL,
        event_id TEXT NOT NULL,
        event_time_ms BIGINT NOT NULL,
        event_hour TEXT NOT NULL,
        subject TEXT,
        request_id TEXT NOT NULL,
        request_source TEXT NOT NULL,
        model_name TEXT NOT NULL,
        model_sha256 TEXT NOT NULL,
        image_width INTEGER NOT NULL,
        image_height INTEGER NOT NULL,
        input_path TEXT,
        input_content_type TEXT,
        input_bytes BIGINT,
        output_image TEXT,
        output_json TEXT NOT NULL,
        total_ms DOUBLE PRECISION NOT NULL,
        timings TEXT NOT NULL,
        detection_count INTEGER NOT NULL,
        received_at_ms BIGINT NOT NULL,
        UNIQUE (event_source, event_id)
      )`,
      'CREATE INDEX requests_newest ON requests (event_time_ms DESC, id DESC)',
      'CREATE INDEX requests_total_ms ON requests (total_ms)',
      `CREATE TABLE detections (
        request_pk BIGINT NOT NULL REFERENCES requests (id) ON DELETE CASCADE,
        ordinal INTEGER NOT NULL,
        class_id INTEGER NOT NULL,
        label TEXT NOT NULL,
        confidence DOUBLE PRECISION NOT NULL,
        x1 DOUBLE PRECISION NOT NULL,
        y1 DOUBLE PRECISION NOT NULL,
        x2 DOUBLE PRECISION NOT NULL,
        y2 DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (request_pk, ordinal)
      )`,
      'CREATE INDEX detections_label ON detections (label, confidence)',
      `CREATE TABLE failures (
        id ${IDENTITY[d]},
        event_source TEXT NOT NULL,
        event_id TEXT NOT NULL,
        event_type TEXT NOT NULL,
        event_time_ms BIGINT,
        received_at_ms BIGINT NOT NULL,
        error_code TEXT,
        error_dest TEXT,
        error_data TEXT,
        data TEXT,
        extensions TEXT NOT NULL,
        UNIQUE (event_source, event_id)
      )`,
      'CREATE INDEX failures_newest ON failures (received_at_ms DESC, id DESC)',
    ],
  },
];
