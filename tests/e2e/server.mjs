// A static server that lays the playground out as the Spin component serves
// it: `/` is dist/index.html and `/playground/<path>` is dist/<path>. API
// paths go to the live service at `liveUrl` when one is given, so the page's
// Live switch talks to a real service at the same origin.
import http from "node:http";
import https from "node:https";
import { readFile } from "node:fs/promises";
import path from "node:path";

const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".wasm": "application/wasm",
  ".ts": "text/plain; charset=utf-8",
};

// The service's API routes: everything the page may fetch in Live mode.
const API = /^\/(notify|report|file|http)\/?$|^\/(status|retry-task|cancel-task|outputs|tasks)\/|^\/(tasks|healthz|openapi\.json)$/;

// The same rule as the service's router: plain segments, none hidden.
const ASSET = /^(?:[A-Za-z0-9_-][A-Za-z0-9._-]*\/)*[A-Za-z0-9_-][A-Za-z0-9._-]*$/;

export async function startServer({ dist, liveUrl }) {
  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url, "http://localhost");
    try {
      if (API.test(url.pathname)) return proxy(req, res, liveUrl);
      let file = null;
      if (url.pathname === "/") file = "index.html";
      else if (url.pathname.startsWith("/playground/")) {
        const rest = url.pathname.slice("/playground/".length);
        if (ASSET.test(rest)) file = rest;
      }
      if (req.method !== "GET" || file === null) return send(res, 404, '{"detail":"Not Found"}', TYPES[".json"]);
      const body = await readFile(path.join(dist, file));
      return send(res, 200, body, TYPES[path.extname(file)] ?? "application/octet-stream");
    } catch (err) {
      if (err.code === "ENOENT") return send(res, 404, '{"detail":"Not Found"}', TYPES[".json"]);
      return send(res, 500, String(err), "text/plain");
    }
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

function send(res, status, body, type) {
  res.writeHead(status, { "content-type": type, "cache-control": "no-store" });
  res.end(body);
}

function proxy(req, res, liveUrl) {
  if (!liveUrl) {
    return send(res, 502, '{"detail":"no live service: set BGTASKS_LIVE_URL"}', TYPES[".json"]);
  }
  const target = new URL(req.url, liveUrl);
  const headers = { ...req.headers, host: target.host };
  const client = target.protocol === "https:" ? https : http;
  const upstream = client.request(target, { method: req.method, headers }, (answer) => {
    res.writeHead(answer.statusCode, answer.headers);
    answer.pipe(res);
  });
  upstream.on("error", (err) => send(res, 502, JSON.stringify({ detail: `live service: ${err.message}` }), TYPES[".json"]));
  req.pipe(upstream);
}
