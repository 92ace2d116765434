// A Next.js App Router route handler: GET /api/feeds?userId=…&cursor=… answers a feed page from
// ml-service, or the app's random posts when the service fails (marked source: "fallback").
// In the app, import from the published client package instead of this relative path.
import { MlServiceClient } from "../../../../../clients/typescript/src/index.js";

const client = new MlServiceClient({
  baseUrl: process.env.ML_SERVICE_URL ?? "http://127.0.0.1:8000",
  apiKey: process.env.ML_SERVICE_API_KEY,
  timeoutMs: 800,
});

/** The app's own fallback: any posts it can show. */
async function randomPosts(count: number): Promise<string[]> {
  return Array.from({ length: count }, () => crypto.randomUUID());
}

export async function GET(request: Request): Promise<Response> {
  const url = new URL(request.url);
  const userId = url.searchParams.get("userId");
  if (!userId) {
    return Response.json({ error: "userId is required" }, { status: 400 });
  }
  const limit = Number(url.searchParams.get("limit") ?? "20");
  const page = await client.recommendations({
    userId,
    limit,
    cursor: url.searchParams.get("cursor"),
    fallback: () => randomPosts(limit),
  });
  return Response.json({
    posts: page.items.map((item) => item.postId),
    nextCursor: page.nextCursor,
    source: page.source,
  });
}
