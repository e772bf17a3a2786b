#!/usr/bin/env bash
# Upgrade test of pg_rollout 1.0 -> the current version (the control file's default_version), on a
# throwaway cluster:
#
#   1. A database gets CREATE EXTENSION pg_rollout VERSION '1.0' and flags inserted the 1.0 way
#      (several percentages, disabled flags, a salted flag). feature_enabled's answers for 20,000
#      users, each as a bigint, a text and a uuid id, are saved in a table.
#   2. ALTER EXTENSION pg_rollout UPDATE: the answers are computed again and must not differ in a
#      single case; every 1.0 flag row must still be there with the same switch, percentage and salt.
#   3. ALTER EXTENSION pg_rollout UPDATE again is a no-op (version and catalog unchanged).
#   4. A second database gets a fresh CREATE EXTENSION pg_rollout (the current version). With the test's own tables
#      dropped, the catalogs of both databases must be identical: `pg_dump --schema-only`, and
#      `pg_dump --schema-only --binary-upgrade` with its OID-preserving calls removed (the plain
#      dump names the extension only, not its member objects; the binary-upgrade dump lists every
#      member: tables, columns, constraints, functions, triggers, comments, grants).
#
#   bash tests/upgrade/run.sh
#
# Environment: PG_BINDIR (default /usr/lib/postgresql/15/bin); the extension must be installed
# into that server. Exits 0 when every check passes, 1 otherwise (the failing check is printed).
set -euo pipefail
cd "$(dirname "$0")/../.."

# The version ALTER EXTENSION UPDATE and a fresh CREATE EXTENSION go to.
current=$(sed -n "s/^default_version = '\(.*\)'$/\1/p" extension/pg_rollout.control)

# shellcheck source=scripts/cluster.sh
source scripts/cluster.sh
cluster_start

WORK=$CLUSTER_DIR/work  # removed with the cluster
mkdir "$WORK"

failures=0
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}
pass() { echo "ok: $*"; }

sql() {  # DB SQL...: runs SQL, stops on the first error, prints unaligned tuples only
  local db=$1
  shift
  "$PG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -At -d "$db" "$@"
}

sql postgres -c "CREATE DATABASE upgraded" -c "CREATE DATABASE fresh"

save_answers() {  # TABLE: every flag's answer for every test user, as bigint, text and uuid id
  sql upgraded -c "CREATE TABLE $1 AS
    SELECT f.key, u.id,
           feature_enabled(u.id, f.key) AS by_bigint,
           feature_enabled(u.text_id, f.key) AS by_text,
           feature_enabled(u.uuid_id, f.key) AS by_uuid
    FROM test_users u CROSS JOIN test_flags_before f"
}

# --- 1. A 1.0 database with flags, and its answers ----------------------------------------------
sql upgraded <<'SQL'
CREATE EXTENSION pg_rollout VERSION '1.0';
INSERT INTO rollout.flags (key, description, enabled, rollout_percentage, salt) VALUES
  ('off_flag',       'disabled at 50%',           false, 50,    NULL),
  ('off_full',       'disabled at 100%',          false, 100,   NULL),
  ('zero',           'enabled at 0%',             true,  0,     NULL),
  ('tiny',           'enabled at 0.01%',          true,  0.01,  NULL),
  ('ten',            'enabled at 10%',            true,  10,    NULL),
  ('quarter',        'enabled at 25%',            true,  25,    NULL),
  ('fine',           'enabled at 33.33%',         true,  33.33, NULL),
  ('half',           'enabled at 50%',            true,  50,    NULL),
  ('salted',         'enabled at 50%, own salt',  true,  50,    'renamed-from-old-key'),
  ('most',           'enabled at 99.99%',         true,  99.99, NULL),
  ('everyone',       'enabled at 100%',           true,  100,   NULL);

CREATE TABLE test_flags_before AS
  SELECT key, description, enabled, rollout_percentage, salt FROM rollout.flags;
CREATE TABLE test_users AS
  SELECT i::bigint AS id, 'user-' || i AS text_id, md5('user ' || i)::uuid AS uuid_id
  FROM generate_series(1, 20000) AS i;
SQL
save_answers test_answers_before
[ "$(sql upgraded -c "SELECT extversion FROM pg_extension WHERE extname = 'pg_rollout'")" = 1.0 ] ||
  fail "the first database does not start at version 1.0"

# The saved answers must be real answers, not a constant: each flag's share of users is its
# percentage (within 1.5 points over 20,000 users), exact at 0% and 100% and when disabled.
bad_shares=$(sql upgraded <<'SQL'
SELECT format('%s: expected %s%%, got bigint %s%%, text %s%%, uuid %s%%', key, expected,
              round(by_bigint, 2), round(by_text, 2), round(by_uuid, 2))
FROM (SELECT key, CASE WHEN f.enabled THEN f.rollout_percentage ELSE 0 END AS expected,
             100.0 * count(*) FILTER (WHERE by_bigint) / count(*) AS by_bigint,
             100.0 * count(*) FILTER (WHERE by_text) / count(*) AS by_text,
             100.0 * count(*) FILTER (WHERE by_uuid) / count(*) AS by_uuid
      FROM test_answers_before a JOIN test_flags_before f USING (key)
      GROUP BY key, f.enabled, f.rollout_percentage) shares
WHERE abs(by_bigint - expected) > 1.5 OR abs(by_text - expected) > 1.5 OR abs(by_uuid - expected) > 1.5
   OR (expected IN (0, 100) AND (by_bigint, by_text, by_uuid) <> (expected, expected, expected))
ORDER BY 1;
SQL
)
if [ -z "$bad_shares" ]; then
  pass "1.0 answers: every flag's share of 20,000 users matches its percentage (bigint, text, uuid ids)"
else
  fail "1.0 answers do not match the flags' percentages:"
  echo "$bad_shares"
fi
answers=$(sql upgraded -c "SELECT count(*) FROM test_answers_before")
echo "saved $answers answers (x3 id types) under 1.0"

# --- 2. ALTER EXTENSION ... UPDATE keeps every answer and every flag ---------------------------
start=$SECONDS
sql upgraded -c "ALTER EXTENSION pg_rollout UPDATE"
echo "ALTER EXTENSION pg_rollout UPDATE took $((SECONDS - start))s"
version=$(sql upgraded -c "SELECT extversion FROM pg_extension WHERE extname = 'pg_rollout'")
if [ "$version" = "$current" ]; then pass "updated to $current"; else fail "version after UPDATE is '$version', not $current"; fi

save_answers test_answers_after
differences=$(sql upgraded <<'SQL'
SELECT count(*) FROM test_answers_before b FULL JOIN test_answers_after a USING (key, id)
WHERE (b.by_bigint, b.by_text, b.by_uuid) IS DISTINCT FROM (a.by_bigint, a.by_text, a.by_uuid);
SQL
)
if [ "$differences" = 0 ]; then
  pass "after UPDATE: 0 of $answers answers differ (each compared as bigint, text and uuid id)"
else
  fail "after UPDATE: $differences of $answers answers differ; first ones:"
  sql upgraded -c "SELECT key, id, b.by_bigint, a.by_bigint, b.by_text, a.by_text, b.by_uuid, a.by_uuid
                   FROM test_answers_before b FULL JOIN test_answers_after a USING (key, id)
                   WHERE (b.by_bigint, b.by_text, b.by_uuid) IS DISTINCT FROM (a.by_bigint, a.by_text, a.by_uuid)
                   ORDER BY key, id LIMIT 10"
fi

lost_flags=$(sql upgraded <<'SQL'
SELECT coalesce(b.key, a.key) FROM test_flags_before b
FULL JOIN (SELECT f.key, f.description, c.enabled, c.rollout_percentage, f.salt
           FROM rollout.flags f JOIN rollout.flag_configs c ON c.flag = f.key AND c.environment = 'production') a
  USING (key)
WHERE (b.description, b.enabled, b.rollout_percentage, b.salt) IS DISTINCT FROM
      (a.description, a.enabled, a.rollout_percentage, a.salt)
ORDER BY 1;
SQL
)
flag_count=$(sql upgraded -c "SELECT count(*) FROM rollout.flags")
if [ -z "$lost_flags" ] && [ "$flag_count" = "$(sql upgraded -c "SELECT count(*) FROM test_flags_before")" ]; then
  pass "after UPDATE: all $flag_count flag rows kept (description, switch, percentage, salt)"
else
  fail "after UPDATE: flag rows lost or changed: ${lost_flags:-(count $flag_count)}"
fi

# The updated database takes the management calls on its 1.0 flags.
sql upgraded -c "SELECT rollout.set_rollout('zero', 100)" >/dev/null
if [ "$(sql upgraded -c "SELECT feature_enabled(7, 'zero')")" = t ]; then
  pass "after UPDATE: rollout.set_rollout works on a 1.0 flag"
else
  fail "after UPDATE: rollout.set_rollout('zero', 100) did not switch the 1.0 flag on"
fi
sql upgraded -c "SELECT rollout.set_rollout('zero', 0)" >/dev/null

# --- 3. A second UPDATE is a no-op -------------------------------------------------------------
# The catalog with every extension member: `pg_dump --binary-upgrade` (superuser only) dumps each
# member explicitly; the lines that only carry this database's OIDs, xids and LSNs are removed, and
# the extension's configuration-table OIDs are replaced by a placeholder (compared by name below);
# sequence positions are data (the audit log's), not catalog.
catalog_dump() {  # DB FILE
  "$PG_BINDIR/pg_dump" -d "$1" --schema-only --binary-upgrade |
    sed -E -e '/^\\(un)?restrict /d' -e '/binary_upgrade_set_next_/d' -e '/^SET relfrozenxid = /d' \
      -e "/^WHERE oid = '[0-9]+';/d" -e '/^SELECT pg_catalog.setval\(/d' \
      -e "s/(binary_upgrade_create_empty_extension\('[^']*', '[^']*', [a-z]+, '[^']*', )'\{[0-9,]*\}'/\1'{OIDS}'/" >"$2"
}
plain_dump() {  # DB FILE
  "$PG_BINDIR/pg_dump" -d "$1" --schema-only | sed -E -e '/^\\(un)?restrict /d' >"$2"
}
config_tables() {  # DB: the extension's configuration tables and their dump filters, by name
  sql "$1" -c "SELECT c.relid::regclass || ' ' || coalesce(c.condition, '')
               FROM pg_extension e, unnest(e.extconfig, e.extcondition) AS c(relid, condition)
               WHERE e.extname = 'pg_rollout' ORDER BY 1"
}

catalog_dump upgraded "$WORK/first_update.sql"
version_row=$(sql upgraded -c "SELECT version FROM rollout.config_version")
sql upgraded -c "ALTER EXTENSION pg_rollout UPDATE" 2>"$WORK/second_update.txt"
catalog_dump upgraded "$WORK/second_update.sql"
if grep -q "version \"$current\" of extension \"pg_rollout\" is already installed" "$WORK/second_update.txt" &&
  [ "$(sql upgraded -c "SELECT extversion FROM pg_extension WHERE extname = 'pg_rollout'")" = "$current" ] &&
  [ "$(sql upgraded -c "SELECT version FROM rollout.config_version")" = "$version_row" ] &&
  diff -u "$WORK/first_update.sql" "$WORK/second_update.sql" >"$WORK/noop.diff"; then
  pass "a second ALTER EXTENSION pg_rollout UPDATE is a no-op ($(head -n 1 "$WORK/second_update.txt"))"
else
  fail "a second ALTER EXTENSION pg_rollout UPDATE was not a no-op:"
  cat "$WORK/second_update.txt" "$WORK/noop.diff"
fi

# --- 4. A fresh install has the same catalog as the updated 1.0 one ------------------------
sql fresh -c "CREATE EXTENSION pg_rollout"
sql upgraded -c "DROP TABLE test_flags_before, test_users, test_answers_before, test_answers_after"
[ -z "$(sql upgraded -c "SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace")" ] ||
  fail "the test's own tables were not all dropped"

plain_dump upgraded "$WORK/upgraded.sql"
plain_dump fresh "$WORK/fresh.sql"
if diff -u "$WORK/upgraded.sql" "$WORK/fresh.sql" >"$WORK/plain.diff"; then
  pass "pg_dump --schema-only: updated 1.0 and fresh $current are identical ($(wc -l <"$WORK/fresh.sql") lines)"
else
  fail "pg_dump --schema-only differs between the updated 1.0 (-) and the fresh $current (+) database:"
  cat "$WORK/plain.diff"
fi

catalog_dump upgraded "$WORK/upgraded_members.sql"
catalog_dump fresh "$WORK/fresh_members.sql"
members=$(grep -c '^ALTER EXTENSION pg_rollout ADD ' "$WORK/fresh_members.sql" || true)
if [ "$members" -lt 50 ]; then
  fail "the binary-upgrade dump lists only $members extension members; it should list every one"
elif diff -u "$WORK/upgraded_members.sql" "$WORK/fresh_members.sql" >"$WORK/members.diff"; then
  pass "pg_dump --schema-only --binary-upgrade: all $members extension members identical in both databases"
else
  fail "the extension's members differ between the updated 1.0 (-) and the fresh $current (+) database:"
  cat "$WORK/members.diff"
fi

if [ "$(config_tables upgraded)" = "$(config_tables fresh)" ]; then
  pass "the same $(config_tables fresh | wc -l) configuration tables are dumped with their data, with the same filters"
else
  fail "pg_extension_config_dump differs:"
  diff <(config_tables upgraded) <(config_tables fresh) || true
fi

if [ "$failures" -eq 0 ]; then
  echo "upgrade: all checks passed"
else
  echo "upgrade: $failures check(s) failed"
  exit 1
fi
