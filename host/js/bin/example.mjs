#!/usr/bin/env node
// Serves the browser example (host/js/example) and what it loads (src/,
// build/, node_modules/) as static files; everything else runs in the page.
//   node host/js/bin/example.mjs [--listen 127.0.0.1:8080]
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { extname, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({ options: { listen: { type: 'string', default: '127.0.0.1:8080' } } });
const root = fileURLToPath(new URL('..', import.meta.url));
const SERVED = ['example', 'src', 'build', 'node_modules'];
const TYPES = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.mjs': 'text/javascript',
  '.wasm': 'application/wasm', '.sql': 'text/plain; charset=utf-8', '.json': 'application/json',
  '.data': 'application/octet-stream', '.gz': 'application/gzip', '.map': 'application/json',
};

const server = createServer(async (req, res) => {
  let path;
  try {
    path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
  } catch {
    res.writeHead(400).end('bad path');
    return;
  }
  if (path === '/') {
    res.writeHead(302, { location: '/example/' }).end();
    return;
  }
  const file = resolve(root, `.${path.endsWith('/') ? `${path}index.html` : path}`);
  const top = file.slice(root.length).split(sep)[0];
  if (!file.startsWith(root) || !SERVED.includes(top)) {
    res.writeHead(404).end('not found');
    return;
  }
  try {
    const body = await readFile(file);
    res.writeHead(200, { 'content-type': TYPES[extname(file)] || 'application/octet-stream', 'cache-control': 'no-cache' }).end(body);
  } catch {
    res.writeHead(404).end('not found');
  }
});
const cut = args.listen.lastIndexOf(':');
server.listen(Number(args.listen.slice(cut + 1)), args.listen.slice(0, cut), () => {
  const { address, port } = server.address();
  console.log(`example: http://${address}:${port}/example/`);
});
