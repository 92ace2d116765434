// The client against a real service this test starts (the demo on a SQLite file of its own, with an
// API key), and against a closed port for the fallback. Run with `npm test`.
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";

import openapiTS, { astToString } from "openapi-typescript";

import { MlServiceClient, ServiceError, Tracker, type TrackedEvent } from "../src/index.js";

const here = dirname(fileURLToPath(import.meta.url));
const packageDir = join(here, "..", "..");
const projectRoot = join(packageDir, "..", "..");
const API_KEY = "test-key";

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
    server.on("error", reject);
  });
}

async function waitUntilReady(baseUrl: string, process: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 240_000;
  while (Date.now() < deadline) {
    if (process.exitCode !== null) throw new Error(`the service exited:\n${log()}`);
    try {
      const response = await fetch(`${baseUrl}/health/ready`);
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  throw new Error(`the service was not ready in time:\n${log()}`);
}

describe("generated types", () => {
  test("src/schema.ts is what openapi.json generates (npm run generate when stale)", async () => {
    const ast = await openapiTS(new URL("../../openapi.json", import.meta.url), { defaultNonNullable: false });
    const committed = readFileSync(join(packageDir, "src", "schema.ts"), "utf8");
    const body = (text: string) => text.slice(text.indexOf("export "));
    assert.equal(body(committed).trim(), body(astToString(ast)).trim());
  });
});

describe("against a closed port", () => {
  test("a feed page falls back to the caller's posts, marked fallback, within the timeout", async () => {
    const client = new MlServiceClient({ baseUrl: `http://127.0.0.1:${await freePort()}`, timeoutMs: 500 });
    const started = Date.now();
    const page = await client.recommendations({ userId: crypto.randomUUID(), fallback: () => ["p1", "p2"] });
    assert.equal(page.source, "fallback");
    assert.deepEqual(page.items.map((i) => i.postId), ["p1", "p2"]);
    assert.equal(page.nextCursor, null);
    assert.ok(Date.now() - started < 2000);
  });
});

describe("against a running service", () => {
  let service: ChildProcess;
  let baseUrl = "";
  let workDir = "";
  let output = "";
  let client: MlServiceClient;
  let users: string[] = [];

  before(async () => {
    const port = await freePort();
    baseUrl = `http://127.0.0.1:${port}`;
    workDir = mkdtempSync(join(tmpdir(), "ml-service-client-"));
    // UV: how to run uv, e.g. "python3 -m uv" where only the module is installed.
    const [uv, ...uvArgs] = (process.env.UV ?? "uv").split(" ");
    service = spawn(
      uv,
      [...uvArgs, "run", "ml-service", "demo", "--port", String(port), "--users", "60", "--posts", "300", "--interactions", "4000"],
      {
        cwd: projectRoot,
        env: {
          ...process.env,
          DATABASE_URL: `sqlite:///${join(workDir, "service.db")}`,
          ML_MODEL__MODELS_DIR: join(workDir, "models"),
          ML_SERVICE_API_KEY: API_KEY,
          ML_DEMO_DATA: join(workDir, "demo.json"),
          MLFLOW_TRACKING_URI: `sqlite:///${join(workDir, "mlflow.db")}`,
        },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    service.stdout?.on("data", (chunk: Buffer) => (output += chunk.toString()));
    service.stderr?.on("data", (chunk: Buffer) => (output += chunk.toString()));
    await waitUntilReady(baseUrl, service, () => output.slice(-4000));
    client = new MlServiceClient({ baseUrl, apiKey: API_KEY, timeoutMs: 5000 });
    // The users with the most interactions in the demo's data.
    const data = JSON.parse(readFileSync(join(workDir, "demo.json"), "utf8")) as {
      interactions: { user_id: string }[];
    };
    const counts = new Map<string, number>();
    for (const { user_id } of data.interactions) counts.set(user_id, (counts.get(user_id) ?? 0) + 1);
    users = [...counts.entries()].sort((a, b) => b[1] - a[1]).map(([user]) => user);
  });

  after(() => {
    service?.kill("SIGTERM");
    rmSync(workDir, { recursive: true, force: true });
  });

  test("pages of one cursor never repeat a post, and the last says so", async () => {
    const user = users[0];
    const seen = new Set<string>();
    let page = await client.recommendations({ userId: user, limit: 7 });
    const listId = page.recommendationId;
    assert.notEqual(page.source, "fallback");
    for (let i = 0; i < 4 && page.nextCursor; i++) {
      for (const item of page.items) {
        assert.ok(!seen.has(item.postId), `${item.postId} repeated`);
        seen.add(item.postId);
      }
      page = await client.recommendations({ userId: user, limit: 7, cursor: page.nextCursor });
      assert.equal(page.recommendationId, listId);
      assert.equal(page.cursorExpired, false);
    }
    assert.ok(seen.size >= 14);
  });

  test("without the API key every call is refused, and a feed page falls back", async () => {
    const keyless = new MlServiceClient({ baseUrl, timeoutMs: 5000 });
    const page = await keyless.recommendations({ userId: users[0], fallback: () => ["x"] });
    assert.equal(page.source, "fallback");
    await assert.rejects(keyless.upsertUser(crypto.randomUUID(), { username: "nobody" }), (error: unknown) => {
      return error instanceof ServiceError && error.status === 401;
    });
  });

  test("the tracker batches at 20, sends the key, and a failed batch is retried with the same ids", async () => {
    const sent: { status: number; ids: string[] }[] = [];
    let failNext = true;
    const recording: typeof fetch = async (input, init) => {
      const ids = JSON.parse(String(init?.body ?? "{}")).interactions?.map((i: { event_id: string }) => i.event_id) ?? [];
      if (failNext) {
        failNext = false;
        sent.push({ status: 0, ids });
        throw new TypeError("network down");
      }
      const response = await fetch(input, init);
      sent.push({ status: response.status, ids });
      return response;
    };
    const tracking = new MlServiceClient({ baseUrl, apiKey: API_KEY, timeoutMs: 5000, fetch: recording });
    const tracker = new Tracker(tracking, { flushIntervalMs: 60_000, maxBatch: 20 });
    const posts = (await client.recommendations({ userId: users[0], limit: 25, excludeSeen: false })).items;
    const user = crypto.randomUUID(); // a new account: the service creates it
    const events: TrackedEvent[] = posts.slice(0, 25).map((p) => ({ userId: user, postId: p.postId, type: "view" }));
    for (const event of events.slice(0, 19)) tracker.track(event);
    assert.equal(sent.length, 0, "nothing is sent before 20 events");
    tracker.track(events[19]);
    await tracker.flush();
    assert.equal(sent.length, 1);
    assert.equal(sent[0].status, 0);
    assert.equal(tracker.size, 20, "the failed batch waits to be sent again");
    for (const event of events.slice(20)) tracker.track(event);
    await tracker.close();
    assert.deepEqual(sent[1].ids, sent[0].ids, "the retry carries the same event ids");
    assert.equal(sent[1].status, 202);
    assert.equal(tracker.size, 0);
    const again = await client.track(sent[1].ids.map((id, i) => ({ ...events[i], eventId: id })));
    assert.equal(again.duplicates, 20);
  });

  test("catalogue: a post upserted, then deleted, and a user erased", async () => {
    const author = crypto.randomUUID();
    const post = crypto.randomUUID();
    assert.equal(await client.upsertUser(author, { username: `author-${author.slice(0, 8)}` }), true);
    assert.equal(await client.upsertPost(post, { author_id: author, content: "hello" }), true);
    assert.equal(await client.upsertPost(post, { author_id: author, content: "hello again" }), false);
    const bulk = await client.upsertPosts([
      { id: crypto.randomUUID(), author_id: author, content: "one" },
      { id: "not-a-uuid", author_id: author, content: "two" },
    ]);
    assert.equal(bulk.accepted, 1);
    assert.equal(bulk.rejected[0].field, "id");
    await client.deletePost(post);
    await client.eraseUser(author);
    await client.eraseUser(author); // a retried erasure succeeds
  });
});
