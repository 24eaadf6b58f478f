import type { Resource } from './kustomize.js';

/**
 * Plays a Knative Broker for the tests, from the Trigger manifests themselves: an event is delivered to every
 * Trigger whose filter attributes all match, in binary mode with its ce-* headers and `Prefer: reply`. A reply
 * event (a 2xx with ce-* headers) goes back into the Broker. 5xx, 404, 408, 409 and 429 are retried `retry` times
 * with the Trigger's backoff (delays scaled down by `timeScale`); other failures, or retries run out, go to the
 * dead-letter sink with the knativeerrorcode, knativeerrordest and knativeerrordata extensions, as Knative does.
 */

export interface BrokerEvent {
  headers: Record<string, string>;
  body: Buffer | string;
}

export interface Delivery {
  trigger: string;
  url: string;
  attempt: number;
  status: number;
  at: number;
}

interface TriggerRoute {
  name: string;
  filter: Record<string, string>;
  url: string;
  retry: number;
  backoffPolicy: 'exponential' | 'linear';
  backoffDelayMs: number;
  deadLetterUrl: string | undefined;
}

const RETRYABLE = new Set([404, 408, 409, 429]);

/** ISO 8601 durations as Knative writes them: PT0.5S, PT2S, PT1M. */
export function durationMs(iso: string): number {
  const m = /^PT(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?$/.exec(iso);
  if (!m) throw new Error(`unsupported duration ${iso}`);
  return (Number(m[1] ?? 0) * 60 + Number(m[2] ?? 0)) * 1000;
}

export class BrokerHarness {
  readonly deliveries: Delivery[] = [];
  readonly deadLetters: { trigger: string; status: number }[] = [];
  private readonly routes: TriggerRoute[];

  /**
   * @param resolve maps a subscriber or dead-letter ref ({apiVersion, kind, name}) and uri to a URL of a real,
   *   running server.
   */
  constructor(
    triggers: Resource[],
    broker: Resource,
    resolve: (ref: Resource, uri: string | undefined) => string,
    private readonly timeScale = 0.01,
  ) {
    this.routes = triggers.map((tr) => {
      const delivery = { ...broker.spec?.delivery, ...tr.spec.delivery };
      return {
        name: tr.metadata.name,
        filter: tr.spec.filter?.attributes ?? {},
        url: resolve(tr.spec.subscriber.ref, tr.spec.subscriber.uri),
        retry: delivery.retry ?? 0,
        backoffPolicy: delivery.backoffPolicy ?? 'exponential',
        backoffDelayMs: durationMs(delivery.backoffDelay ?? 'PT0.2S'),
        deadLetterUrl: delivery.deadLetterSink
          ? resolve(delivery.deadLetterSink.ref, delivery.deadLetterSink.uri)
          : undefined,
      };
    });
  }

  private matches(route: TriggerRoute, headers: Record<string, string>): boolean {
    return Object.entries(route.filter).every(([attr, value]) => headers[`ce-${attr}`] === value);
  }

  /** Publishes an event and resolves once it, and every reply it caused, has been delivered or dead-lettered. */
  async publish(event: BrokerEvent): Promise<void> {
    const headers = Object.fromEntries(Object.entries(event.headers).map(([k, v]) => [k.toLowerCase(), v]));
    await Promise.all(
      this.routes.filter((r) => this.matches(r, headers)).map((r) => this.deliver(r, { headers, body: event.body })),
    );
  }

  private async deliver(route: TriggerRoute, event: BrokerEvent): Promise<void> {
    let status = 0;
    let body = Buffer.alloc(0);
    for (let attempt = 0; attempt <= route.retry; attempt++) {
      if (attempt > 0) {
        const factor = route.backoffPolicy === 'exponential' ? 2 ** (attempt - 1) : attempt;
        await new Promise((r) => setTimeout(r, route.backoffDelayMs * factor * this.timeScale));
      }
      let res: Response;
      try {
        res = await fetch(route.url, {
          method: 'POST',
          headers: { ...event.headers, prefer: 'reply' },
          body: event.body as BodyInit,
        });
      } catch {
        status = 502; // unreachable: Knative retries it like a 5xx
        this.deliveries.push({ trigger: route.name, url: route.url, attempt, status, at: Date.now() });
        continue;
      }
      status = res.status;
      body = Buffer.from(await res.arrayBuffer());
      this.deliveries.push({ trigger: route.name, url: route.url, attempt, status, at: Date.now() });
      if (status >= 200 && status < 300) {
        const reply: Record<string, string> = {};
        res.headers.forEach((v, k) => {
          if (k.startsWith('ce-') || k === 'content-type') reply[k] = v;
        });
        if (reply['ce-type']) await this.publish({ headers: reply, body });
        return;
      }
      if (!(status >= 500 || RETRYABLE.has(status))) break;
    }
    this.deadLetters.push({ trigger: route.name, status });
    if (!route.deadLetterUrl) return;
    await fetch(route.deadLetterUrl, {
      method: 'POST',
      headers: {
        ...event.headers,
        'ce-knativeerrorcode': String(status),
        'ce-knativeerrordest': route.url,
        'ce-knativeerrordata': body.subarray(0, 1024).toString('base64'),
      },
      body: event.body as BodyInit,
    });
  }
}
