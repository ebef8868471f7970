#!/usr/bin/env bash
# Build the pgshift image and smoke-test it where a Docker engine runs (CI here has none: there,
# test/unit/dockerfile.test.ts checks the Dockerfile instead). From anywhere:  bash docker/build-and-smoke.sh
# Steps: build; pg_dump in the image is 17 or newer; --help; then a source (postgres:15, wal_level=logical) and
# an empty target (postgres:17) on a private network: inventory, copy, verify, replicate --until-caught-up into a
# second database, verify, cleanup. Everything it starts is removed on exit. IMAGE=… names the image.
set -euo pipefail
cd "$(dirname "$0")/.."
image=${IMAGE:-pgshift:smoke}
run_id="pgshift-smoke-$$"
net="$run_id-net"

docker info >/dev/null 2>&1 || { echo "smoke: no Docker engine answers (docker info failed)" >&2; exit 2; }

cleanup() {
  docker rm -f "$run_id-source" "$run_id-target" >/dev/null 2>&1 || true
  docker network rm "$net" >/dev/null 2>&1 || true
}
trap cleanup EXIT

echo "smoke: building $image"
docker build -f docker/Dockerfile -t "$image" .

version=$(docker run --rm --entrypoint pg_dump "$image" --version)
major=$(sed -E 's/^pg_dump \(PostgreSQL\) ([0-9]+).*/\1/' <<<"$version")
echo "smoke: $version"
[ "$major" -ge 17 ] || { echo "smoke: pg_dump in the image is $major, must be 17 or newer" >&2; exit 1; }

docker run --rm "$image" --help | grep -q 'Typical migration' || { echo "smoke: --help did not print the migration" >&2; exit 1; }

docker network create "$net" >/dev/null
docker run -d --name "$run_id-source" --network "$net" -e POSTGRES_USER=app -e POSTGRES_PASSWORD=source-pw -e POSTGRES_DB=app \
  postgres:15 -c wal_level=logical >/dev/null
docker run -d --name "$run_id-target" --network "$net" -e POSTGRES_USER=app -e POSTGRES_PASSWORD=target-pw -e POSTGRES_DB=app \
  postgres:17 >/dev/null
for side in source target; do
  for _ in $(seq 1 60); do
    docker exec "$run_id-$side" pg_isready -U app -d app >/dev/null 2>&1 && break
    sleep 1
  done
done
docker exec "$run_id-target" psql -U app -d app -qc 'CREATE DATABASE live' >/dev/null
docker exec "$run_id-source" psql -U app -d app -q -v ON_ERROR_STOP=1 -c "
  CREATE TABLE accounts (id serial PRIMARY KEY, name text NOT NULL, balance numeric(12,2));
  INSERT INTO accounts (name, balance) SELECT 'a' || g, g FROM generate_series(1, 5000) g;
  CREATE TABLE events (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, account_id int REFERENCES accounts, at timestamptz DEFAULT now());
  INSERT INTO events (account_id) SELECT 1 + g % 5000 FROM generate_series(1, 20000) g;" >/dev/null

src="postgres://app:source-pw@$run_id-source:5432/app?sslmode=disable"
pgshift() {
  local target=$1
  shift
  docker run --rm --network "$net" -e PGSHIFT_SOURCE_URL="$src" \
    -e PGSHIFT_TARGET_URL="postgres://app:target-pw@$run_id-target:5432/$target?sslmode=disable" "$image" "$@"
}
echo "smoke: dump/restore path"
pgshift app inventory
pgshift app copy
pgshift app verify
pgshift app cleanup
echo "smoke: replication path"
pgshift live replicate --until-caught-up
pgshift live verify
pgshift live cleanup
echo "smoke: ok ($version)"
