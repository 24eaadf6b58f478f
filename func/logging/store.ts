import type { DetectionRecord } from '../shared/record.js';

/** What the logging service keeps, and the queries it answers; one implementation per SQL dialect adapter. */

export interface CompletedEvent {
  eventId: string;
  eventSource: string;
  time: Date;
  subject: string | undefined;
  record: DetectionRecord;
}

export interface FailedEvent {
  eventId: string;
  eventSource: string;
  eventType: string;
  time: Date | undefined;
  errorCode: string | undefined;
  errorDest: string | undefined;
  errorData: string | undefined;
  /** The event's data as text (JSON, or base64 for binary data), cut to a bounded size. */
  data: string | undefined;
  extensions: Record<string, string>;
}

export interface Cursor {
  timeMs: number;
  id: number;
}

export interface DetectionQuery {
  label?: string | undefined;
  since?: Date | undefined;
  until?: Date | undefined;
  minConfidence?: number | undefined;
  limit: number;
  cursor?: Cursor | undefined;
}

export interface StoredRequest {
  id: number;
  eventId: string;
  eventSource: string;
  time: string;
  subject: string | null;
  requestId: string;
  requestSource: string;
  model: { name: string; sha256: string };
  image: { width: number; height: number };
  input: { path: string } | { contentType: string; bytes: number };
  output: { image: string | null; json: string };
  timings: DetectionRecord['timings'];
  detectionCount: number;
  detections: DetectionRecord['detections'];
}

export interface StoredFailure {
  id: number;
  eventId: string;
  eventSource: string;
  eventType: string;
  time: string | null;
  receivedAt: string;
  errorCode: string | null;
  errorDest: string | null;
  errorData: string | null;
  data: string | null;
  extensions: Record<string, string>;
}

export interface Stats {
  requests: number;
  detections: number;
  perLabel: { label: string; count: number }[];
  perHour: { hour: string; requests: number; detections: number }[];
  totalMs: { p50: number | null; p95: number | null };
}

export interface Page<T> {
  items: T[];
  next: Cursor | undefined;
}

export interface DetectionStore {
  readonly backend: 'sqlite' | 'postgres';
  /** Creates or upgrades the schema; safe to run on every start and from several replicas at once. */
  migrate(): Promise<void>;
  /** Stores a completed event and its detections in one transaction; (source, id) makes redelivery a no-op. */
  storeEvent(event: CompletedEvent): Promise<'stored' | 'duplicate'>;
  storeFailure(event: FailedEvent): Promise<'stored' | 'duplicate'>;
  listRequests(query: DetectionQuery): Promise<Page<StoredRequest>>;
  getRequest(id: number): Promise<StoredRequest | undefined>;
  listFailures(limit: number, cursor?: Cursor): Promise<Page<StoredFailure>>;
  stats(since?: Date, until?: Date): Promise<Stats>;
  /** Throws StoreUnavailableError when the database does not answer. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** The database is unreachable, locked, full or read-only: a retryable condition (503). */
export class StoreUnavailableError extends Error {
  override name = 'StoreUnavailableError';
}
