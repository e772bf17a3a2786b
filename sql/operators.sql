-- Every constraint operator, each with a case that matches and one that does not, through
-- feature_enabled with jsonb attributes (docs/constraints.md is the reference).
CREATE EXTENSION pg_rollout;
\set SHOW_CONTEXT never

SELECT rollout.create_flag('op'), rollout.set_enabled('op', true);

-- Whether a rule made of the one constraint matches a user with these attributes.
CREATE FUNCTION matches(c jsonb, attributes jsonb) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM rollout.rules WHERE flag = 'op';
    INSERT INTO rollout.rules (flag, environment, number, constraints)
    VALUES ('op', 'production', 1, jsonb_build_array(c));
    RETURN (SELECT reason = 'RULE_MATCH' FROM feature_explain('u1', 'op', attributes));
END
$$;

CREATE TABLE cases (n serial, expected boolean, c jsonb, attributes jsonb);
INSERT INTO cases (expected, c, attributes) VALUES
    (true,  '{"attribute":"tier","op":"in","values":["pro","enterprise"]}', '{"tier":"pro"}'),
    (false, '{"attribute":"tier","op":"in","values":["pro","enterprise"]}', '{"tier":"free"}'),
    (false, '{"attribute":"tier","op":"in","values":["pro"]}', '{}'),
    (true,  '{"attribute":"org_id","op":"in","values":[42, 7]}', '{"org_id":"42"}'),
    (true,  '{"attribute":"country","op":"not_in","values":["DE","FR"]}', '{"country":"US"}'),
    (false, '{"attribute":"country","op":"not_in","values":["DE","FR"]}', '{"country":"DE"}'),
    (true,  '{"attribute":"plan","op":"eq","value":"gold"}', '{"plan":"gold"}'),
    (false, '{"attribute":"plan","op":"eq","value":"gold"}', '{"plan":"Gold"}'),
    (true,  '{"attribute":"plan","op":"eq","value":"gold","case_insensitive":true}', '{"plan":"GOLD"}'),
    (true,  '{"attribute":"plan","op":"neq","value":"free"}', '{"plan":"gold"}'),
    (false, '{"attribute":"plan","op":"neq","value":"free"}', '{"plan":"free"}'),
    (true,  '{"attribute":"age","op":"lt","value":18}', '{"age":17}'),
    (false, '{"attribute":"age","op":"lt","value":18}', '{"age":18}'),
    (true,  '{"attribute":"seats","op":"lte","value":5}', '{"seats":"5"}'),
    (false, '{"attribute":"seats","op":"lte","value":5}', '{"seats":5.5}'),
    (true,  '{"attribute":"orders","op":"gt","value":10}', '{"orders":11}'),
    (false, '{"attribute":"orders","op":"gt","value":10}', '{"orders":"ten"}'),
    (true,  '{"attribute":"score","op":"gte","value":0.75}', '{"score":0.75}'),
    (false, '{"attribute":"score","op":"gte","value":0.75}', '{"score":0.7}'),
    (true,  '{"attribute":"signup","op":"before","value":"2024-06-01T00:00:00Z"}', '{"signup":"2024-05-31 23:59:59+00"}'),
    (false, '{"attribute":"signup","op":"before","value":"2024-06-01T00:00:00Z"}', '{"signup":"2024-06-01T02:00:00+02:00"}'),
    (true,  '{"attribute":"signup","op":"after","value":1717200000}', '{"signup":"2024-06-02"}'),
    (false, '{"attribute":"signup","op":"after","value":1717200000}', '{"signup":1717200000}'),
    (true,  '{"attribute":"app_version","op":"semver_eq","value":"2.1.0"}', '{"app_version":"v2.1.0"}'),
    (false, '{"attribute":"app_version","op":"semver_eq","value":"2.1.0"}', '{"app_version":"2.1.0-rc.1"}'),
    (true,  '{"attribute":"app_version","op":"semver_lt","value":"2.1.0"}', '{"app_version":"2.1.0-rc.1"}'),
    (false, '{"attribute":"app_version","op":"semver_lt","value":"2.1.0"}', '{"app_version":"2.10.0"}'),
    (true,  '{"attribute":"app_version","op":"semver_gt","value":"2.1.0"}', '{"app_version":"2.10.0"}'),
    (false, '{"attribute":"app_version","op":"semver_gt","value":"2.1.0"}', '{"app_version":"not a version"}'),
    (true,  '{"attribute":"email","op":"contains","value":"+beta"}', '{"email":"ann+beta@example.com"}'),
    (false, '{"attribute":"email","op":"contains","value":"+beta"}', '{"email":"ann@example.com"}'),
    (true,  '{"attribute":"region","op":"starts_with","values":["eu-","uk-"]}', '{"region":"uk-south"}'),
    (false, '{"attribute":"region","op":"starts_with","values":["eu-","uk-"]}', '{"region":"us-east"}'),
    (true,  '{"attribute":"email","op":"ends_with","value":"@EXAMPLE.com","case_insensitive":true}', '{"email":"bob@example.COM"}'),
    (false, '{"attribute":"email","op":"ends_with","value":"@example.com"}', '{"email":"bob@example.org"}'),
    (true,  '{"attribute":"name","op":"starts_with","value":"ÉCOLE","case_insensitive":true}', '{"name":"école normale"}'),
    (true,  '{"attribute":"email","op":"regex","value":"@(corp|staff)\\.example\\.com$"}', '{"email":"c@staff.example.com"}'),
    (false, '{"attribute":"email","op":"regex","value":"@(corp|staff)\\.example\\.com$"}', '{"email":"c@example.com"}'),
    (true,  '{"attribute":"org_id","op":"exists"}', '{"org_id":""}'),
    (false, '{"attribute":"org_id","op":"exists"}', '{"tier":"pro"}'),
    -- Negation inverts, also for an absent attribute.
    (false, '{"attribute":"tier","op":"in","values":["pro"],"negate":true}', '{"tier":"pro"}'),
    (true,  '{"attribute":"tier","op":"in","values":["pro"],"negate":true}', '{}'),
    (true,  '{"attribute":"org_id","op":"exists","negate":true}', '{}'),
    (false, '{"attribute":"app_version","op":"semver_gt","value":"1.0.0","negate":true}', '{"app_version":"1.2.0"}'),
    -- The evaluated user id is the attribute user_id.
    (true,  '{"attribute":"user_id","op":"starts_with","value":"u"}', '{}');

SELECT n, expected, matches(c, attributes) AS result, c ->> 'op' AS op, attributes
FROM cases ORDER BY n;
SELECT count(*) AS cases, count(*) FILTER (WHERE matches(c, attributes) IS DISTINCT FROM expected) AS wrong FROM cases;

-- Several constraints in a rule are ANDed.
DELETE FROM rollout.rules;
SELECT rollout.add_rule('op', '[{"attribute":"tier","op":"in","values":["pro"]},{"attribute":"app_version","op":"semver_gt","value":"2.1.0"}]');
SELECT feature_enabled('u1', 'op', '{"tier":"pro","app_version":"2.2.0"}') AS both,
       feature_enabled('u1', 'op', '{"tier":"pro","app_version":"2.0.0"}') AS only_tier,
       feature_enabled('u1', 'op', '{"tier":"free","app_version":"2.2.0"}') AS only_version;

-- Errors name the offending part: invalid regex (2201B), bad semver, unknown key, wrong type.
\set VERBOSITY terse
SELECT rollout.add_rule('op', '[{"attribute":"email","op":"regex","value":"(unclosed"}]');
\echo :LAST_ERROR_SQLSTATE
SELECT rollout.add_rule('op', '[{"attribute":"v","op":"semver_gt","value":"2.x"}]');
\echo :LAST_ERROR_SQLSTATE
SELECT rollout.add_rule('op', '[{"attribute":"tier","op":"in","vaules":["pro"]}]');
\echo :LAST_ERROR_SQLSTATE
SELECT rollout.add_rule('op', '[{"attribute":"age","op":"lt","value":"18"}]');
\echo :LAST_ERROR_SQLSTATE
SELECT rollout.add_rule('op', '[{"attribute":"d","op":"before","value":"2023-02-29"}]');
\echo :LAST_ERROR_SQLSTATE
SELECT rollout.add_rule('op', '[{"attribute":"tier","op":"in","values":[]}]');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS rules_left FROM rollout.rules;

DROP EXTENSION pg_rollout;
DROP TABLE cases;
DROP FUNCTION matches(jsonb, jsonb);
