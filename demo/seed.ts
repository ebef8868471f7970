// The demo's databases: a Heroku-shaped source (non-superuser owner, TLS only, sslmode=require) holding a
// small shop, and an empty target owned by another non-superuser, as on a managed host.
import { randomBytes } from 'node:crypto';
import { parseConnectionUrl } from '../src/config.js';
import { connect, type Client } from '../src/db/connect.js';
import { quoteIdent, quoteLiteral } from '../src/db/ident.js';
import type { RunningCluster } from '../test/support/cluster.js';

/** Make `role` own a fresh `database` on the cluster; returns the owner's URL (TLS, not verified). */
export async function createOwnedDatabase(cluster: RunningCluster, database: string, role: string, opts: { replication?: boolean } = {}): Promise<string> {
  const password = randomBytes(12).toString('hex');
  const admin = await connect(parseConnectionUrl(cluster.adminUrl, 'source'), { applicationName: 'pgshift-demo' });
  try {
    // CREATE ROLE/DATABASE take no bind parameters: quoteLiteral is the one sanctioned escape for this.
    // A source for logical replication needs REPLICATION (Heroku Advanced, RDS's rds_replication); still no superuser.
    const repl = opts.replication ? 'REPLICATION' : 'NOREPLICATION';
    await admin.query(`CREATE ROLE ${quoteIdent(role)} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE ${repl} PASSWORD ${quoteLiteral(password)}`);
    await admin.query(`CREATE DATABASE ${quoteIdent(database)} OWNER ${quoteIdent(role)}`);
  } finally {
    await admin.end().catch(() => undefined);
  }
  return `postgres://${role}:${password}@${cluster.host}:${cluster.port}/${database}?sslmode=require`;
}

// What a small web shop looks like after a few years. Deterministic (values derive from the row number).
const SCHEMA = `
CREATE TABLE users (
  id          bigserial PRIMARY KEY,
  email       text NOT NULL UNIQUE,
  full_name   text NOT NULL,
  country     char(2) NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  last_login  timestamptz
);
CREATE TABLE products (
  id          integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  sku         text NOT NULL UNIQUE,
  name        text NOT NULL,
  price       numeric(10,2) NOT NULL CHECK (price >= 0),
  attributes  jsonb NOT NULL DEFAULT '{}'
);
CREATE TABLE orders (
  id          bigserial PRIMARY KEY,
  user_id     bigint NOT NULL REFERENCES users (id),
  status      text NOT NULL,
  total       numeric(12,2) NOT NULL,
  placed_at   timestamptz NOT NULL
);
CREATE INDEX orders_user_idx ON orders (user_id, placed_at);
CREATE TABLE order_items (
  order_id    bigint NOT NULL REFERENCES orders (id),
  line        smallint NOT NULL,
  product_id  integer NOT NULL REFERENCES products (id),
  quantity    integer NOT NULL,
  unit_price  numeric(10,2) NOT NULL,
  PRIMARY KEY (order_id, line)
);
CREATE INDEX order_items_product_idx ON order_items (product_id);
-- Written by a trigger: a copy must not fire it again on the target (the audit log would double).
CREATE TABLE audit_log (
  id          bigserial PRIMARY KEY,
  table_name  text NOT NULL,
  row_id      bigint NOT NULL,
  action      text NOT NULL,
  at          timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE FUNCTION audit_orders() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO audit_log (table_name, row_id, action) VALUES (TG_TABLE_NAME, NEW.id, TG_OP);
  RETURN NEW;
END $$;
CREATE TRIGGER orders_audit AFTER INSERT OR UPDATE ON orders FOR EACH ROW EXECUTE FUNCTION audit_orders();
-- Log-style table without a primary key (inventory warns about it).
CREATE TABLE page_views (
  viewed_at   timestamptz NOT NULL,
  user_id     bigint,
  path        text NOT NULL,
  referrer    text
);
CREATE INDEX page_views_viewed_at_idx ON page_views (viewed_at);
CREATE SEQUENCE invoice_number_seq START 10000;
`;

// Each statement with the counts it binds, in placeholder order.
const DATA: Array<[string, Array<keyof SeedCounts>]> = [
  [
    `INSERT INTO users (email, full_name, country, created_at, last_login)
   SELECT 'customer' || i || '@example.com', 'Customer ' || initcap(substr(md5(i::text), 1, 8)),
          (ARRAY['US','DE','FR','GB','JP','BR'])[1 + i % 6],
          timestamptz '2019-03-01 00:00:00+00' + i * interval '23 minutes' + (i % 997) * interval '1 microsecond',
          CASE WHEN i % 7 = 0 THEN NULL ELSE timestamptz '2024-01-01 00:00:00+00' + i * interval '3 minutes' END
   FROM generate_series(1, $1::int) AS i`,
    ['users'],
  ],
  [
    `INSERT INTO products (sku, name, price, attributes)
   SELECT 'SKU-' || lpad(i::text, 5, '0'), 'Product ' || i, ((i * 37) % 20000) / 100.0 + 1,
          jsonb_build_object('color', (ARRAY['red','green','blue','black'])[1 + i % 4], 'weight_g', 100 + i % 900,
                             'tags', jsonb_build_array('t' || i % 5, 't' || i % 9), 'description', repeat(md5(i::text), 8))
   FROM generate_series(1, $1::int) AS i`,
    ['products'],
  ],
  [
    `INSERT INTO orders (user_id, status, total, placed_at)
   SELECT 1 + (i * 7) % $1::int, (ARRAY['paid','shipped','delivered','refunded'])[1 + i % 4],
          ((i * 131) % 50000) / 100.0, timestamptz '2021-01-01 00:00:00+00' + i * interval '7 minutes'
   FROM generate_series(1, $2::int) AS i`,
    ['users', 'orders'],
  ],
  [
    `INSERT INTO order_items (order_id, line, product_id, quantity, unit_price)
   SELECT o, l, 1 + (o * 13 + l) % $1::int, 1 + (o + l) % 4, ((o * 17 + l) % 20000) / 100.0 + 1
   FROM generate_series(1, $2::int) AS o, generate_series(1, 3) AS l`,
    ['products', 'orders'],
  ],
  [
    `INSERT INTO page_views (viewed_at, user_id, path, referrer)
   SELECT timestamptz '2024-06-01 00:00:00+00' + i * interval '2 seconds',
          CASE WHEN i % 3 = 0 THEN NULL ELSE 1 + i % $1::int END,
          '/products/' || (1 + i % $2::int) || '?ref=' || substr(md5(i::text), 1, 10),
          CASE WHEN i % 4 = 0 THEN 'https://search.example/?q=' || substr(md5((i + 1)::text), 1, 12) END
   FROM generate_series(1, $3::int) AS i`,
    ['users', 'products', 'pageViews'],
  ],
  [`SELECT setval('invoice_number_seq', 10000 + $1::int / 2)`, ['orders']],
];

export interface SeedCounts {
  users: number;
  products: number;
  orders: number;
  pageViews: number;
}

/** ~80 MB: big enough for the progress bars to move, small enough for the demo to stay short. */
export const DEMO_COUNTS: SeedCounts = { users: 50_000, products: 3_000, orders: 100_000, pageViews: 250_000 };

/** Seed as the owner, over TLS, as the application itself would have written it. */
export async function seedShop(ownerUrl: string, counts: SeedCounts = DEMO_COUNTS): Promise<void> {
  const c: Client = await connect(parseConnectionUrl(ownerUrl, 'source'), { applicationName: 'pgshift-demo-seed' });
  try {
    await c.query('SET synchronous_commit = off');
    await c.query(SCHEMA);
    for (const [sql, keys] of DATA)
      await c.query(
        sql,
        keys.map((k) => counts[k]),
      );
    await c.query('ANALYZE');
  } finally {
    await c.end().catch(() => undefined);
  }
}

/** Exact row counts of the demo tables, for the independent before/after comparison in the summary. */
export async function rowCounts(url: string): Promise<Record<string, number | null>> {
  const c = await connect(parseConnectionUrl(url, 'target'), { applicationName: 'pgshift-demo-check' });
  const out: Record<string, number | null> = {};
  try {
    for (const t of ['users', 'products', 'orders', 'order_items', 'audit_log', 'page_views']) {
      out[t] = await c.query<{ n: string }>(`SELECT count(*) AS n FROM ${quoteIdent(t)}`).then(
        (r) => Number(r.rows[0]!.n),
        () => null,
      );
    }
  } finally {
    await c.end().catch(() => undefined);
  }
  return out;
}

/**
 * The application, still running: every few milliseconds a new order with its items (firing the audit trigger),
 * a status change, a page view and a deleted page view. stop() freezes writes and says how many were made.
 */
export function startWriter(ownerUrl: string): { stop(): Promise<number> } {
  let running = true;
  let writes = 0;
  const done = (async () => {
    const c: Client = await connect(parseConnectionUrl(ownerUrl, 'source'), { applicationName: 'pgshift-demo-app' });
    try {
      for (let i = 1; running; i++) {
        await c.query('BEGIN');
        const { rows } = await c.query<{ id: string }>(
          `INSERT INTO orders (user_id, status, total, placed_at) VALUES (1 + $1::int % 50000, 'new', $1::int % 500 + 0.99, now()) RETURNING id`,
          [i],
        );
        await c.query(`INSERT INTO order_items SELECT $1::bigint, l, 1 + l, 1, 9.99 FROM generate_series(1, 2) l`, [rows[0]!.id]);
        await c.query(`UPDATE orders SET status = 'shipped' WHERE id = $1::bigint`, [1 + ((i * 7919) % 100000)]);
        await c.query(`INSERT INTO page_views (viewed_at, user_id, path) VALUES (now(), NULL, '/live/' || $1::int)`, [i]);
        await c.query(`DELETE FROM page_views WHERE ctid = (SELECT ctid FROM page_views WHERE path LIKE '/products/' || $1::int || '?%' LIMIT 1)`, [
          1 + (i % 3000),
        ]);
        await c.query(`SELECT nextval('invoice_number_seq')`);
        await c.query('COMMIT');
        writes++;
        await new Promise((r) => setTimeout(r, 5));
      }
    } finally {
      await c.end().catch(() => undefined);
    }
  })();
  return {
    async stop() {
      running = false;
      await done;
      return writes;
    },
  };
}
