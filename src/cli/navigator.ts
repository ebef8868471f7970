// Imported first by main.ts, before anything loads pg. pg asks at load time whether it runs in a Cloudflare
// Worker: without a global `navigator` (Node 20 has none; Node 21+ does) it builds a fetch Response to find out,
// which loads Node's bundled undici — about 0.1 s of CPU on every start for nothing. Node 21+'s own answer is
// given here instead.
const g = globalThis as { navigator?: { userAgent?: string } };
if (g.navigator === undefined) {
  Object.defineProperty(globalThis, 'navigator', {
    value: { userAgent: `Node.js/${process.versions.node.split('.')[0]}` },
    configurable: true,
    writable: true,
  });
}
export {};
