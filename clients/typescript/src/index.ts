/**
 * A typed client for ml-service: feed pages with cursors and a fallback, batched tracking with
 * retries, and catalogue sync. Types come from the service's OpenAPI document (src/schema.ts).
 */
import type { components } from "./schema.js";

export type Schemas = components["schemas"];
export type Reason = Schemas["Reason"];
export type Recommendation = Schemas["RecommendationOut"];
export type InteractionType = Schemas["InteractionIn"]["interaction_type"];
export type Source = Schemas["RecommendationMetadata"]["source"] | "fallback";
export type UserIn = Schemas["UserIn"];
export type PostIn = Schemas["PostIn"];
export type PostBatchOut = Schemas["PostBatchOut"];
export type TrackResponse = Schemas["TrackResponse"];

export interface ClientOptions {
  baseUrl: string;
  /** Sent as X-API-Key on every call when set. */
  apiKey?: string;
  /** Per request; a feed page that takes longer falls back. Default 800 ms. */
  timeoutMs?: number;
  fetch?: typeof fetch;
}

export interface FeedRequest {
  userId: string;
  limit?: number;
  /** The previous page's `nextCursor`: continues that list. */
  cursor?: string | null;
  excludeSeen?: boolean;
  excludePostIds?: string[];
  /** Posts to show when the service fails: the app's random posts. */
  fallback?: () => Promise<string[]> | string[];
}

export interface FeedPage {
  items: { postId: string; score: number; reason: Reason | "fallback" }[];
  source: Source;
  recommendationId: string | null;
  nextCursor: string | null;
  cursorExpired: boolean;
  modelVersion: string | null;
}

export interface TrackedEvent {
  userId: string;
  postId: string;
  type: InteractionType;
  metadata?: Record<string, unknown>;
  createdAt?: Date;
}

/** A failed call: the status (0 when the service was not reached) and the service's error body. */
export class ServiceError extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
    message: string,
  ) {
    super(message);
    this.name = "ServiceError";
  }
}

export class MlServiceClient {
  private readonly baseUrl: string;
  private readonly timeoutMs: number;
  private readonly fetchImpl: typeof fetch;

  constructor(private readonly options: ClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, "");
    this.timeoutMs = options.timeoutMs ?? 800;
    this.fetchImpl = options.fetch ?? fetch;
  }

  /** A feed page; on any failure (timeout, network, 5xx, 4xx) the fallback's posts, marked so. */
  async recommendations(request: FeedRequest): Promise<FeedPage> {
    const body: Schemas["GenerateRequest"] = {
      user_id: request.userId,
      limit: request.limit ?? 20,
      cursor: request.cursor ?? null,
      context: {
        exclude_seen: request.excludeSeen ?? true,
        exclude_post_ids: request.excludePostIds ?? [],
      },
    };
    try {
      const answer = await this.call<Schemas["GenerateResponse"]>("POST", "/recommendations/generate", body);
      const meta = answer.metadata;
      return {
        items: answer.recommendations.map((r) => ({ postId: r.post_id, score: r.score, reason: r.reason })),
        source: meta.source,
        recommendationId: meta.recommendation_id,
        nextCursor: meta.next_cursor,
        cursorExpired: meta.cursor_expired,
        modelVersion: meta.model_version,
      };
    } catch (error) {
      const posts = request.fallback ? await request.fallback() : [];
      return {
        items: posts.map((postId) => ({ postId, score: 0, reason: "fallback" })),
        source: "fallback",
        recommendationId: null,
        nextCursor: null,
        cursorExpired: false,
        modelVersion: null,
      };
    }
  }

  /** Sends events as one batch; throws ServiceError when the service does not take it. */
  async track(events: (TrackedEvent & { eventId: string })[]): Promise<TrackResponse> {
    const interactions: Schemas["InteractionIn"][] = events.map((e) => ({
      user_id: e.userId,
      post_id: e.postId,
      interaction_type: e.type,
      event_id: e.eventId,
      metadata: e.metadata ?? {},
      created_at: (e.createdAt ?? new Date()).toISOString(),
    }));
    return this.call<TrackResponse>("POST", "/interactions/track", { interactions });
  }

  async upsertUser(id: string, user: UserIn): Promise<boolean> {
    return (await this.call<Schemas["UpsertedOut"]>("PUT", `/users/${id}`, user)).created;
  }

  async upsertPost(id: string, post: PostIn): Promise<boolean> {
    return (await this.call<Schemas["UpsertedOut"]>("PUT", `/posts/${id}`, post)).created;
  }

  /** Up to 1,000 posts; each bad one is reported in `rejected`, the rest stored. */
  async upsertPosts(posts: (PostIn & { id: string })[]): Promise<PostBatchOut> {
    return this.call<PostBatchOut>("PUT", "/posts", { posts });
  }

  /** The post leaves every feed at once. */
  async deletePost(id: string): Promise<void> {
    await this.call<null>("DELETE", `/posts/${id}`);
  }

  /** The user, their interactions, lists and posts are erased. */
  async eraseUser(id: string): Promise<void> {
    await this.call<null>("DELETE", `/users/${id}`);
  }

  private async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { accept: "application/json" };
    if (body !== undefined) headers["content-type"] = "application/json";
    if (this.options.apiKey) headers["x-api-key"] = this.options.apiKey;
    let response: Response;
    try {
      response = await this.fetchImpl(`${this.baseUrl}${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (error) {
      throw new ServiceError(0, null, `${method} ${path}: ${(error as Error).message}`);
    }
    if (response.status === 204) return null as T;
    const parsed: unknown = await response.json().catch(() => null);
    if (!response.ok) {
      throw new ServiceError(response.status, parsed, `${method} ${path}: HTTP ${response.status}`);
    }
    return parsed as T;
  }
}

export interface TrackerOptions {
  /** Flush this often, in ms. Default 5,000. */
  flushIntervalMs?: number;
  /** Flush as soon as this many events wait. Default 20. */
  maxBatch?: number;
  /** Longest wait between retries of a failed batch, in ms. Default 60,000. */
  maxBackoffMs?: number;
  /** Events kept while the service is away; the oldest go first beyond it. Default 10,000. */
  maxPending?: number;
}

/**
 * Batches events like the app's tracking service: every 5 s or at 20 events. Each event gets an
 * id when it is tracked, so a batch sent again after a failure is stored once.
 */
export class Tracker {
  private pending: (TrackedEvent & { eventId: string })[] = [];
  private timer: ReturnType<typeof setInterval> | null = null;
  private sending: Promise<void> | null = null;
  private retryAt = 0;
  private backoffMs = 0;
  private readonly flushIntervalMs: number;
  private readonly maxBatch: number;
  private readonly maxBackoffMs: number;
  private readonly maxPending: number;

  constructor(
    private readonly client: MlServiceClient,
    options: TrackerOptions = {},
  ) {
    this.flushIntervalMs = options.flushIntervalMs ?? 5000;
    this.maxBatch = options.maxBatch ?? 20;
    this.maxBackoffMs = options.maxBackoffMs ?? 60_000;
    this.maxPending = options.maxPending ?? 10_000;
    this.timer = setInterval(() => void this.flush(), this.flushIntervalMs);
    this.timer.unref?.();
  }

  get size(): number {
    return this.pending.length;
  }

  track(event: TrackedEvent): string {
    const eventId = crypto.randomUUID();
    this.pending.push({ ...event, eventId });
    if (this.pending.length > this.maxPending) this.pending.splice(0, this.pending.length - this.maxPending);
    if (this.pending.length >= this.maxBatch) void this.flush();
    return eventId;
  }

  /** Sends what waits, a batch at a time; a failed batch stays, to be sent again with its ids. */
  async flush(): Promise<void> {
    if (this.sending) return this.sending;
    this.sending = this.send().finally(() => {
      this.sending = null;
    });
    return this.sending;
  }

  /** Stops the timer and sends what waits (once). */
  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (this.sending) await this.sending; // a send in flight ends first
    this.retryAt = 0;
    await this.flush();
  }

  private async send(): Promise<void> {
    while (this.pending.length > 0 && Date.now() >= this.retryAt) {
      const batch = this.pending.slice(0, this.maxBatch);
      try {
        await this.client.track(batch);
      } catch (error) {
        // A 4xx other than 429 will not get better: drop the batch rather than retry it forever.
        if (error instanceof ServiceError && error.status >= 400 && error.status < 500 && error.status !== 429) {
          this.pending.splice(0, batch.length);
          continue;
        }
        this.backoffMs = Math.min(this.maxBackoffMs, this.backoffMs ? this.backoffMs * 2 : 500);
        this.retryAt = Date.now() + this.backoffMs;
        return;
      }
      this.pending.splice(0, batch.length);
      this.backoffMs = 0;
    }
  }
}
