-- The evaluation order, every reason, environments, plans, presets, overrides, prerequisites,
-- variants, feature_value / feature_explain / features_for and the row form.
CREATE EXTENSION pg_rollout;
\set SHOW_CONTEXT never

CREATE FUNCTION explain_row(user_id text, flag text, attributes jsonb DEFAULT '{}') RETURNS text
LANGUAGE sql AS $$
    SELECT format('%s %s rule=%s bucket=%s variant=%s of=%s', e.reason, e.value, coalesce(e.rule_index::text, '-'),
                  coalesce(e.bucket::text, '-'), coalesce(e.variant, '-'), e.openfeature_reason)
    FROM feature_explain(user_id, flag, attributes) e
$$;

-- FLAG_NOT_FOUND, and rollout.missing_flag.
SELECT explain_row('1', 'ghost') AS not_found;
SELECT feature_value(1, 'ghost') AS value_of_unknown;
SET rollout.missing_flag = warning;
SELECT feature_enabled(1, 'ghost') AS with_warning;
SET rollout.missing_flag = error;
SELECT feature_enabled(1, 'ghost');
\echo :LAST_ERROR_SQLSTATE
SET rollout.missing_flag = nonsense;
RESET rollout.missing_flag;

-- OFF: a new flag, and the kill switch.
SELECT rollout.create_flag('checkout', 'The new checkout');
SELECT explain_row('1', 'checkout') AS new_flag;

-- FALLTHROUGH, with and without a split; tiers restrict it.
SELECT rollout.set_enabled('checkout', true), rollout.set_rollout('checkout', 100);
SELECT explain_row('1', 'checkout') AS everyone;
SELECT rollout.set_rollout('checkout', 30);
SELECT explain_row('1', 'checkout') AS at_30, explain_row('2', 'checkout') AS at_30_user_2;
SELECT rollout.set_rollout('checkout', 100, ARRAY['pro', 'enterprise']);
SELECT explain_row('1', 'checkout', '{"tier":"pro"}') AS pro, explain_row('1', 'checkout', '{"tier":"free"}') AS free,
       explain_row('1', 'checkout') AS no_tier;

-- TARGET_ALLOW and TARGET_DENY (deny wins over allow; lists are per environment).
SELECT rollout.set_rollout('checkout', 0);
SELECT rollout.allow_users('checkout', ARRAY['7', '8']);
SELECT rollout.deny_users('checkout', ARRAY['8', '9']);
SELECT allow_users, deny_users FROM rollout.flag_configs WHERE flag = 'checkout';
SELECT explain_row('7', 'checkout') AS allowed, explain_row('8', 'checkout') AS moved_to_deny,
       explain_row('9', 'checkout') AS denied, explain_row('10', 'checkout') AS neither;
SELECT rollout.remove_users('checkout', ARRAY['8']);
SELECT explain_row('8', 'checkout') AS removed;

-- RULE_MATCH: the first matching rule decides, with its own rollout and bucketing attribute.
SELECT rollout.add_rule('checkout', '[{"attribute":"country","op":"in","values":["DE","FR"]}]') AS rule_1;
SELECT rollout.add_rule('checkout', '[{"attribute":"plan","op":"eq","value":"team"}]', 50, 'org_id') AS rule_2;
SELECT explain_row('10', 'checkout', '{"country":"DE"}') AS rule_1_matches,
       explain_row('10', 'checkout', '{"country":"US"}') AS no_rule;
SELECT explain_row('10', 'checkout', '{"plan":"team","org_id":"acme"}') AS org_acme,
       explain_row('11', 'checkout', '{"plan":"team","org_id":"acme"}') AS same_org_same_answer,
       explain_row('10', 'checkout', '{"plan":"team"}') AS no_org_no_fallback;
-- A whole organisation gets the same answer, whichever user asks.
SELECT count(DISTINCT feature_enabled(g, 'checkout', jsonb_build_object('plan', 'team', 'org_id', 'org' || (g % 7))))
       AS answers_per_org
FROM generate_series(1, 700) AS g GROUP BY g % 7 ORDER BY 1 DESC LIMIT 1;
SELECT rollout.remove_rule('checkout', 2);
SELECT rollout.add_rule('checkout', '[{"attribute":"plan","op":"eq","value":"team"}]', 50, 'org_id', 'true', 'user_id') AS rule_3;
SELECT explain_row('10', 'checkout', '{"plan":"team"}') AS falls_back_to_user_id;
SELECT number, constraints, rollout_percentage, bucket_by, fallback_bucket_by FROM rollout.rules ORDER BY number;

-- OVERRIDE comes before the lists and rules; an expired one is ignored.
SELECT rollout.override('checkout', '9', 'true', 'VIP customer');
SELECT rollout.override('checkout', '10', 'true', 'trial', now() - interval '1 day');
SELECT explain_row('9', 'checkout') AS overridden_past_deny, explain_row('10', 'checkout') AS expired;
SELECT rollout.clear_override('checkout', '9');
SELECT explain_row('9', 'checkout') AS override_cleared;

-- Grandfathering: overrides with a reason and an expiry.
SELECT rollout.grandfather('checkout', ARRAY['100', '101'], 'signed up under the old plan', now() + interval '30 days');
SELECT user_id, value, reason, expires_at > now() AS expires_later FROM rollout.overrides ORDER BY user_id;
SELECT explain_row('100', 'checkout') AS grandfathered;
SET rollout.now = '2999-01-01';
SELECT explain_row('100', 'checkout') AS after_expiry;
RESET rollout.now;

-- PREREQUISITE_FAILED, transitively; the kill switch comes first.
SELECT rollout.create_flag('payments_v2'), rollout.create_flag('ledger');
SELECT rollout.set_prerequisite('checkout', 'payments_v2');
SELECT rollout.set_prerequisite('payments_v2', 'ledger');
SELECT rollout.deploy('payments_v2', 'general');
SELECT explain_row('7', 'checkout') AS ledger_off;
SELECT rollout.deploy('ledger', 'general');
SELECT explain_row('7', 'checkout') AS ledger_on;
SELECT rollout.set_prerequisite('checkout', 'payments_v2', 'false');
SELECT explain_row('7', 'checkout') AS requires_off;
SELECT rollout.remove_prerequisite('checkout', 'payments_v2');
SELECT rollout.set_enabled('checkout', false);
SELECT explain_row('7', 'checkout') AS killed;
SELECT rollout.set_enabled('checkout', true);

-- Multivariate flags serve a variant's payload; rules and overrides may name a variant.
SELECT rollout.create_flag('button', 'Button colour',
    '[{"key":"control","weight":50,"value":{"color":"grey"}},{"key":"blue","weight":30,"value":{"color":"blue"}},{"key":"green","weight":20,"value":{"color":"green"}}]');
SELECT rollout.deploy('button', 'general');
SELECT variant, count(*) AS users,
       (SELECT feature_value(min(g), 'button') FROM generate_series(1, 10000) AS h(g)
        WHERE (feature_explain(g, 'button')).variant = v.variant) AS payload
FROM (SELECT (feature_explain(g, 'button')).variant FROM generate_series(1, 10000) AS g) AS v
GROUP BY variant ORDER BY variant;
SELECT rollout.add_rule('button', '[{"attribute":"tier","op":"eq","value":"enterprise"}]', 100, NULL, '"green"');
SELECT explain_row('1', 'button', '{"tier":"enterprise"}') AS rule_serves_green;
SELECT rollout.override('button', '1', '"blue"');
SELECT feature_value('1', 'button') AS override_serves_blue, feature_enabled(1, 'button') AS on;
SELECT rollout.set_enabled('button', false);
SELECT feature_value(1, 'button') AS off_value, feature_enabled(1, 'button') AS off;
SELECT rollout.set_enabled('button', true);

-- Plans: the stage in force at the evaluation time (the transaction start, or rollout.now).
SELECT rollout.create_flag('phased');
SELECT rollout.set_enabled('phased', true);
SELECT rollout.set_plan('phased', '[
    {"starts_at": "2030-01-01T00:00:00Z", "percentage": 10, "tiers": ["pro", "enterprise"]},
    {"starts_at": "2030-02-01T00:00:00Z", "percentage": 50},
    {"starts_at": "2030-03-01T00:00:00Z", "percentage": 100}]');
CREATE TEMP VIEW phased_share AS
SELECT current_setting('rollout.now') AS at,
       count(*) FILTER (WHERE feature_enabled(g, 'phased', '{"tier":"pro"}')) AS pro_users_on,
       count(*) FILTER (WHERE feature_enabled(g, 'phased', '{"tier":"free"}')) AS free_users_on
FROM generate_series(1, 10000) AS g;
SET rollout.now = '2029-12-31 23:59:59+00';
SELECT * FROM phased_share;
SET rollout.now = '2030-01-01 00:00:00+00';
SELECT * FROM phased_share;
SET rollout.now = '2030-02-15 12:00:00+00';
SELECT * FROM phased_share;
SET rollout.now = '2031-01-01 00:00:00+00';
SELECT * FROM phased_share;
SET rollout.now = 'not a time';
RESET rollout.now;

-- The seed workflow with presets: internal -> beta -> expanded -> general -> rollback.
SELECT rollout.create_flag('dashboard');
SELECT rollout.allow_users('dashboard', ARRAY['1']);
CREATE TEMP VIEW dashboard_share AS
SELECT count(*) FILTER (WHERE feature_enabled(g, 'dashboard', '{"tier":"pro"}')) AS pro_on,
       count(*) FILTER (WHERE feature_enabled(g, 'dashboard', '{"tier":"free"}')) AS free_on,
       feature_enabled(1, 'dashboard', '{"tier":"free"}') AS internal_user_on
FROM generate_series(1, 10000) AS g;
SELECT rollout.deploy('dashboard', 'internal');
SELECT 'internal' AS stage, * FROM dashboard_share;
SELECT rollout.deploy('dashboard', 'beta');
SELECT 'beta' AS stage, * FROM dashboard_share;
SELECT rollout.deploy('dashboard', 'expanded');
SELECT 'expanded' AS stage, * FROM dashboard_share;
SELECT rollout.deploy('dashboard', 'general');
SELECT 'general' AS stage, * FROM dashboard_share;
SELECT rollout.deploy('dashboard', 'rollback');
SELECT 'rollback' AS stage, * FROM dashboard_share;
-- Presets are data an admin can edit.
UPDATE rollout.stage_presets SET rollout_percentage = 20 WHERE name = 'beta';
SELECT rollout.deploy('dashboard', 'beta');
SELECT 'beta at 20%' AS stage, * FROM dashboard_share;

-- Environments: each flag has its own configuration per environment.
SELECT rollout.create_environment('staging', 'Pre-production');
SELECT flag, environment, enabled FROM rollout.flag_configs WHERE flag = 'checkout' ORDER BY environment;
SELECT rollout.copy_environment('checkout', 'production', 'staging');
SELECT rollout.set_rollout('checkout', 100, NULL, 'staging');
SET rollout.environment = staging;
SELECT explain_row('10', 'checkout') AS in_staging, current_setting('rollout.environment') AS env;
SELECT count(*) AS staging_rules FROM rollout.rules WHERE environment = 'staging';
SET rollout.environment = nowhere;
SELECT explain_row('10', 'checkout') AS unknown_environment;
RESET rollout.environment;
SELECT explain_row('10', 'checkout') AS in_production;

-- features_for: every flag of the environment with its value; archived flags leave.
SELECT * FROM features_for(7, '{"tier":"pro"}') ORDER BY flag;
SELECT rollout.archive_flag('ledger');
SELECT explain_row('7', 'ledger') AS archived;
-- A flag that requires an archived flag is off for everyone (its prerequisite can't be met).
SELECT explain_row('7', 'payments_v2') AS requires_archived;
SELECT flag FROM features_for(7) ORDER BY flag;

-- The row form reads attributes from a row's columns, and agrees with the jsonb form.
CREATE TABLE users (id bigint, tier text, country text, org_id integer, plan text);
INSERT INTO users SELECT g, (ARRAY['free', 'pro', 'enterprise'])[1 + g % 3], (ARRAY['DE', 'US', 'FR'])[1 + g % 3 / 2],
                         g % 13, CASE WHEN g % 5 = 0 THEN 'team' END
FROM generate_series(1, 3000) AS g;
SELECT count(*) FILTER (WHERE feature_enabled_row(u.id, 'checkout', u)) AS row_form,
       count(*) FILTER (WHERE feature_enabled(u.id, 'checkout', to_jsonb(u))) AS jsonb_form,
       count(*) FILTER (WHERE feature_enabled_row(u.id, 'checkout', u) <> feature_enabled(u.id, 'checkout', to_jsonb(u)))
           AS disagreements
FROM users u;
SELECT count(*) FILTER (WHERE feature_enabled_row(u.id::text, 'button', u)) AS text_id_row_form FROM users u;
-- The pairs form: constant names, per-row values; agrees with the jsonb form.
SELECT count(*) FILTER (WHERE feature_enabled_with(u.id, 'checkout', 'country', u.country, 'plan', u.plan, 'org_id', u.org_id))
           AS pairs_form,
       count(*) FILTER (WHERE feature_enabled_with(u.id, 'checkout', 'country', u.country, 'plan', u.plan, 'org_id', u.org_id)
                              <> feature_enabled(u.id, 'checkout', jsonb_build_object('country', u.country, 'plan', u.plan,
                                                                                       'org_id', u.org_id)))
           AS disagreements
FROM users u;
SELECT feature_enabled_with('10', 'checkout', 'country', 'DE') AS literal_value,
       feature_enabled_with('10', 'checkout', 'unused', 1, 'country', 'US') AS other_country;
\set VERBOSITY terse
SELECT feature_enabled_with(u.id, 'checkout', u.tier, u.country) FROM users u LIMIT 1;
SELECT feature_enabled_with(1, 'checkout', 'country');
\set VERBOSITY default

-- A row type without the attribute's column: the attribute is absent.
SELECT feature_enabled_row(10, 'checkout', ROW(1, 2)) AS anonymous_row;

-- A flag key held in a PL/pgSQL variable: PL/pgSQL evaluates the call as a simple expression
-- whose state lives for the transaction, so the same call site sees a new key at each call and
-- must answer for that key, not for the first one (the key is a Param there, not a Const).
SELECT rollout.create_flag('plpgsql_on'), rollout.set_enabled('plpgsql_on', true),
       rollout.set_rollout('plpgsql_on', 100);
SELECT rollout.create_flag('plpgsql_off');
CREATE FUNCTION flag_by_variable(k text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    RETURN feature_enabled(7, k);
END $$;
CREATE FUNCTION pairs_by_variable(name text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    RETURN feature_enabled_with(7, 'plpgsql_on', name, 'x');
END $$;
BEGIN;
SELECT flag_by_variable('plpgsql_on') AS on_flag, flag_by_variable('plpgsql_off') AS off_flag,
       flag_by_variable('plpgsql_on') AS on_again;
ROLLBACK;
\set VERBOSITY terse
SELECT pairs_by_variable('tier');
\set VERBOSITY default
DROP FUNCTION flag_by_variable(text), pairs_by_variable(text);

-- cache_stats counts what this backend did.
SELECT environment, flags > 0 AS has_flags, version > 0 AS versioned, hits > 0 AS hits, reloads > 0 AS reloads
FROM rollout.cache_stats();

DROP VIEW phased_share, dashboard_share;
DROP TABLE users;
DROP EXTENSION pg_rollout;
