// The worker side of `createWorkerHost` (src/browser.mjs): the browser host
// in a dedicated worker, answering request records posted by the page.
import { createBrowserHost } from './browser.mjs';

let host;
self.onmessage = async ({ data }) => {
  switch (data.kind) {
    case 'start':
      try {
        host = await createBrowserHost(data.options);
        const { applied, url, anonKey, serviceRoleKey } = host;
        self.postMessage({ kind: 'ready', applied, url, anonKey, serviceRoleKey });
      } catch (e) {
        self.postMessage({ kind: 'failed', message: e.message || String(e) });
      }
      break;
    case 'request':
      self.postMessage({ kind: 'answer', id: data.id, answer: await host.handle(data.record) });
      break;
    case 'reload':
      await host.reloadSchema();
      self.postMessage({ kind: 'reloaded', id: data.id });
      break;
    default:
      break;
  }
};
