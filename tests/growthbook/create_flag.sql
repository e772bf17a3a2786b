-- How the GrowthBook comparison creates one flag: switched on, with a salt (NULL: bucket by the
-- flag key) and a rollout percentage. The one place that knows the management interface, so a
-- new extension version changes this file only.
CREATE FUNCTION pg_temp.growthbook_create_flag(flag_key text, flag_salt text, percentage numeric)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT extversion FROM pg_extension WHERE extname = 'pg_rollout') = '1.0' THEN
        -- 1.0 has no management functions: the flags table is the interface.
        INSERT INTO rollout.flags (key, salt, enabled, rollout_percentage)
        VALUES (flag_key, flag_salt, true, percentage);
    ELSE
        PERFORM rollout.create_flag(flag_key);
        PERFORM rollout.set_enabled(flag_key, true);
        PERFORM rollout.set_rollout(flag_key, percentage);
        IF flag_salt IS NOT NULL THEN
            UPDATE rollout.flags SET salt = flag_salt WHERE key = flag_key;
        END IF;
    END IF;
END
$$;
