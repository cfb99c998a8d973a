-- License-server usage: counts and the checkouts that release bookings.

-- How many licenses of checkout p_c may still cover a booking made at p_booked: none if it was
-- made at or after the checkout was first seen, except what appeared with the checkout's last
-- growth, seen after the booking was made.
CREATE OR REPLACE FUNCTION lm.checkout_room(p_c lm.checkout_covers, p_booked timestamptz)
RETURNS bigint LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN p_booked < p_c.first_seen THEN p_c.quantity - p_c.covered
                WHEN p_booked < p_c.fresh_at THEN least(p_c.quantity - p_c.covered, p_c.fresh)
                ELSE 0 END
$$;

-- A job that ends while a booking of it still holds (it ended before its checkout was seen):
-- it may have checked out licenses that a reading taken before the end shows for the first
-- time; lm.ended_holders keeps the claim until a newer reading (lm.apply_usage). A BEFORE
-- DELETE trigger on jobs, as lm.record_job_end: it sees the bookings before the cascade. The
-- end's time is the ending path's p_now (lm.ending_jobs), else now(). Every path that deletes
-- a job holds its pools' counters already (lm.lock_pools), which the cascade writes anyway.
CREATE OR REPLACE FUNCTION lm.note_ended_holders()
RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO lm.ended_holders (pool_id, username, host, quantity, ended_at)
    SELECT f.pool_id, lower(OLD.username), lower(split_part(OLD.lead_host, '.', 1)), b.quantity,
           coalesce(nullif(current_setting('lm.job_end_at', true), '')::timestamptz, now())
    FROM lm.bookings b JOIN lm.features f ON f.id = b.feature_id
    WHERE b.job_id = OLD.id AND b.released_at IS NULL AND f.pool_id IS NOT NULL;
    RETURN OLD;
END
$$;
DROP TRIGGER IF EXISTS bookings_ended_holder ON lm.bookings;
DROP FUNCTION IF EXISTS lm.note_ended_holder();
DROP TRIGGER IF EXISTS jobs_ended_holders ON lm.jobs;
CREATE TRIGGER jobs_ended_holders BEFORE DELETE ON lm.jobs FOR EACH ROW EXECUTE FUNCTION lm.note_ended_holders();

-- The time a usage item's license server was read: p_now less the age the agent measured on its
-- own monotonic clock between reading the server and building the report (read_age_ms; absent:
-- read now). The database's clock places the reading; no two machines' clocks are compared.
CREATE OR REPLACE FUNCTION lm.read_at(p_item jsonb, p_now timestamptz)
RETURNS timestamptz LANGUAGE sql IMMUTABLE AS $$
    SELECT p_now - make_interval(secs => coalesce((p_item->>'read_age_ms')::numeric, 0) / 1000)
$$;

-- The checkouts of the items (as lm.apply_usage enriches them) that are their pool's newest
-- reading, one row per identity (pool, user, short host, key): lines of one identity in one
-- reading add up; two features of a cluster in one pool read the same server, so an identity
-- counts once (max) across them.
CREATE OR REPLACE FUNCTION lm.newest_checkouts(p_items jsonb)
RETURNS TABLE (pool_id bigint, username text, host text, key text, quantity bigint, read_at timestamptz)
LANGUAGE sql IMMUTABLE AS $$
    SELECT i.pool_id, i.username, i.host, i.key, max(i.quantity)::bigint, max(i.read_at)
    FROM (SELECT (x->>'pool_id')::bigint AS pool_id, lower(c."user") AS username, lower(split_part(c.host, '.', 1)) AS host,
                 coalesce(c.key, '') AS key, sum(c.quantity) AS quantity, (x->>'read_at')::timestamptz AS read_at
          FROM jsonb_array_elements(p_items) x
          CROSS JOIN LATERAL jsonb_to_recordset(coalesce(x->'checkouts', '[]')) AS c("user" text, host text, quantity bigint, key text)
          WHERE (x->>'newest')::boolean AND c."user" IS NOT NULL AND c.host IS NOT NULL AND c.quantity > 0
          GROUP BY x, 1, 2, 3, 4, 6) i
    GROUP BY 1, 2, 3, 4
$$;

-- Applies a license-server usage report of one cluster:
-- [{product_feature, total, used, read_age_ms, checkouts: [{user, host, quantity, key}]}].
-- Readings are ordered by when the license server was read (lm.read_at), not by arrival: each
-- feature keeps its newest reading, and a pool's counts are its newest member's (lm.pool_state),
-- so an older reading — another cluster's agent that polled earlier and reported later — never
-- replaces a newer one, and two clusters' agents reading one server agree.
-- The reading that is its pool's newest also renews what is known of the pool's checkouts
-- (lm.checkout_covers, V21): each checkout by its identity, with how many booked licenses it has
-- covered; one the reading no longer shows has ended, and its memory goes with it.
-- Then bookings whose job has checked its licenses out are released: same user, same short lead
-- host (license servers print either form), in booking order, each whole or not at all, while
-- the checkouts of that user on that host have licenses that have covered nothing yet. A
-- checkout covers only bookings made before it was first seen (a job books, then checks out),
-- and what appeared by a later growth of a checkout's quantity only bookings made before that
-- growth was seen. Each checked-out license releases at most one booked license, once, for as
-- long as the license server shows it — whether or not the job it covered still exists — so the
-- same checkout seen again (a reading taken before the job ended, a FlexLM linger) releases
-- nothing more. From then on `used` counts those licenses, so they are counted once.
-- Only bookings of jobs of the reporting cluster are released (another cluster's node may have
-- the same short name), and with p_nodes (the cluster's node names, short and lower case, from
-- Slurm) only those on these hosts; without it, the cluster's own bookings are all that limits
-- the match (documented in lm-server(8)).
-- Unknown features refuse the whole report (LM002), like PUT /features/bulk. Locks the pools
-- first (same order as admission); lm.checkout_covers rows are written under their pool's lock.
DROP FUNCTION IF EXISTS lm.apply_usage(text, jsonb, timestamptz);
CREATE OR REPLACE FUNCTION lm.apply_usage(p_cluster text, p_report jsonb, p_now timestamptz DEFAULT now(),
                                          p_nodes text[] DEFAULT NULL)
RETURNS integer LANGUAGE plpgsql
-- Generic plans, as lm.lock_pools: with custom plans its array-parameter queries were re-planned
-- on every call, 3 ms a time for the loop query (pg_stat_statements, make bench, 2026-12-08)
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    v_items jsonb;
    v_unknown text;
    v_released integer := 0;
    v_orphan bigint;
    v_read bigint[];
    v_newest bigint[];
    v_exact integer;
    v_keys text[];
    v_usable bigint[];
    v_left bigint;
    v_take bigint;
    v_b record;
    v_co record;
BEGIN
    SELECT jsonb_agg(x || jsonb_build_object('feature_id', lm.find_feature(p_cluster, x->>'product_feature')))
    INTO v_items FROM jsonb_array_elements(p_report) x;
    v_items := coalesce(v_items, '[]');

    SELECT string_agg(x->>'product_feature', ', ') INTO v_unknown
    FROM jsonb_array_elements(v_items) x WHERE x->>'feature_id' IS NULL;
    IF v_unknown IS NOT NULL THEN
        RAISE EXCEPTION 'Feature not found.' USING ERRCODE = 'LM002',
            DETAIL = 'not features of cluster ' || p_cluster || ': ' || v_unknown;
    END IF;

    PERFORM lm.lock_pools(ARRAY(SELECT (x->>'feature_id')::bigint FROM jsonb_array_elements(v_items) x));

    -- when each item was read, and whether it is its pool's newest reading (decided before any
    -- of them is stored)
    SELECT coalesce(jsonb_agg(x || jsonb_build_object('pool_id', f.pool_id, 'read_at', r.at,
               'newest', r.at >= coalesce((SELECT max(g.reported_at) FROM lm.features g WHERE g.pool_id = f.pool_id), '-infinity'))), '[]')
    INTO v_items
    FROM jsonb_array_elements(v_items) x
    JOIN lm.features f ON f.id = (x->>'feature_id')::bigint
    CROSS JOIN LATERAL (SELECT lm.read_at(x, p_now) AS at) r;

    -- the pools this report read, and those of them it read newest: named once, used below
    v_read := ARRAY(SELECT DISTINCT (x->>'pool_id')::bigint FROM jsonb_array_elements(v_items) x);
    v_newest := ARRAY(SELECT DISTINCT (x->>'pool_id')::bigint FROM jsonb_array_elements(v_items) x WHERE (x->>'newest')::boolean);

    UPDATE lm.features f SET total = (x->>'total')::bigint, used = (x->>'used')::bigint,
                             reported_at = (x->>'read_at')::timestamptz, failed_at = NULL
    FROM jsonb_array_elements(v_items) x
    WHERE f.id = (x->>'feature_id')::bigint AND (f.reported_at IS NULL OR f.reported_at <= (x->>'read_at')::timestamptz);

    -- a reading newer than a job's end no longer shows its checkout: its claim is over (and
    -- claims a day old go whatever is read: a pool no agent reads any more)
    DELETE FROM lm.ended_holders e
    WHERE e.ended_at < p_now - interval '1 day'
       OR e.pool_id = ANY (v_newest)
          AND e.ended_at <= (SELECT max((x->>'read_at')::timestamptz) FROM jsonb_array_elements(v_items) x
                             WHERE (x->>'pool_id')::bigint = e.pool_id);

    -- checkouts the pool's newest reading no longer shows have ended
    DELETE FROM lm.checkout_covers k
    WHERE k.pool_id = ANY (v_newest)
      AND NOT EXISTS (SELECT 1 FROM lm.newest_checkouts(v_items) n
                      WHERE n.pool_id = k.pool_id AND n.username = k.username AND n.host = k.host AND n.key = k.key);
    INSERT INTO lm.checkout_covers AS k (pool_id, username, host, key, quantity, covered, first_seen, fresh, fresh_at, seen_at)
    SELECT n.pool_id, n.username, n.host, n.key, n.quantity, 0, n.read_at, n.quantity, n.read_at, n.read_at
    FROM lm.newest_checkouts(v_items) n
    ON CONFLICT (pool_id, username, host, key) DO UPDATE
        SET quantity = excluded.quantity,
            covered = least(k.covered, excluded.quantity),
            fresh = CASE WHEN excluded.quantity > k.quantity THEN excluded.quantity - k.quantity ELSE least(k.fresh, excluded.quantity) END,
            fresh_at = CASE WHEN excluded.quantity > k.quantity THEN excluded.seen_at ELSE k.fresh_at END,
            seen_at = excluded.seen_at;

    -- A checkout is matched by user and host, so it may have released the booking of another
    -- job of the same user on the host than its own. When that job ends, its checkout goes, and
    -- the job whose booking was released is counted nowhere. So where running jobs have had more
    -- released by checkouts than the user's checkouts on the host now show (in the pool's newest
    -- reading), the difference is booked again — the bookings released last first — with a grace
    -- from now: counted twice for a while (a job that checked in early) rather than not at all.
    -- InterleavingTest found the case.
    WITH grp AS (
        SELECT f.pool_id, lower(j.username) AS usr, lower(split_part(j.lead_host, '.', 1)) AS host, sum(bk.quantity) AS released
        FROM lm.bookings bk
        JOIN lm.features f ON f.id = bk.feature_id
        JOIN lm.jobs j ON j.id = bk.job_id
        WHERE bk.released_reason = 'checkout'
          AND f.pool_id = ANY (v_newest)
        GROUP BY 1, 2, 3
    ), short AS (
        SELECT g.pool_id, g.usr, g.host,
               g.released - coalesce((SELECT sum(c.quantity) FROM lm.checkout_covers c
                                      WHERE c.pool_id = g.pool_id AND c.username = g.usr AND c.host = g.host), 0) AS n
        FROM grp g
    ), pick AS (
        SELECT bk.id, s.n,
               sum(bk.quantity) OVER (PARTITION BY s.pool_id, s.usr, s.host ORDER BY bk.released_at DESC, bk.id DESC) - bk.quantity AS before
        FROM short s
        JOIN lm.features f ON f.pool_id = s.pool_id
        JOIN lm.bookings bk ON bk.feature_id = f.id AND bk.released_reason = 'checkout'
        JOIN lm.jobs j ON j.id = bk.job_id AND lower(j.username) = s.usr AND lower(split_part(j.lead_host, '.', 1)) = s.host
        WHERE s.n > 0
    )
    UPDATE lm.bookings bk SET released_at = NULL, released_reason = NULL, rebooked_at = p_now,
                              expires_at = greatest(bk.expires_at, p_now + make_interval(secs => c.grace_time))
    FROM pick p, lm.features f, lm.configurations c
    WHERE bk.id = p.id AND p.before < p.n AND f.id = bk.feature_id AND c.id = f.config_id;

    -- Row by row: only bookings whose user has a checkout with licenses left to cover on the
    -- same host come here (a handful per pass), and each takes its licenses from particular
    -- checkouts, which a set-based running sum cannot tell apart.
    -- A job whose booking a checkout released may, while it runs, check in and out again under
    -- another handle: the new checkout is the job's, not another booking's. So what jobs still
    -- running have had released by checkouts no longer shown (orphans: released bookings of the
    -- user on the host beyond what the shown checkouts have covered) takes the newest checkouts'
    -- free licenses first. Recomputed every pass, never stored: once such a job has ended
    -- (epilog, or the sweep, which lm.run_agent_report runs first) its claim is gone.
    -- Two rounds: first each booking that one checkout matches exactly (its usable licenses equal
    -- the booking), so a job's own checkout is not split to cover another job of the same user
    -- and host booked earlier with fewer licenses (InterleavingTest found that: the other job's
    -- booking went, and once this job ended, neither was counted); then what several checkouts
    -- together cover. A checkout with a key is one process of one job: it covers one booking
    -- whole or none, never part of two; only a keyless one (the sum of a user's lines on a host)
    -- is split.
    FOR v_round IN 1 .. 2 LOOP
    FOR v_b IN
        SELECT bk.id, bk.quantity, bk.created_at, g.pool_id, lower(j.username) AS usr, lower(split_part(j.lead_host, '.', 1)) AS host
        FROM lm.bookings bk
        JOIN lm.features g ON g.id = bk.feature_id
        JOIN lm.jobs j ON j.id = bk.job_id
        WHERE j.cluster_client_id = p_cluster AND bk.released_at IS NULL AND bk.expires_at > p_now
          AND g.pool_id = ANY (v_read)
          AND (p_nodes IS NULL OR lower(split_part(j.lead_host, '.', 1)) = ANY (p_nodes))
          AND EXISTS (SELECT 1 FROM lm.checkout_covers c
                      WHERE c.pool_id = g.pool_id AND c.username = lower(j.username)
                        AND c.host = lower(split_part(j.lead_host, '.', 1)) AND c.covered < c.quantity)
        ORDER BY g.pool_id, bk.created_at, bk.id
    LOOP
        SELECT greatest(0, coalesce(sum(bk.quantity), 0)
                           - (SELECT coalesce(sum(c.covered), 0) FROM lm.checkout_covers c
                              WHERE c.pool_id = v_b.pool_id AND c.username = v_b.usr AND c.host = v_b.host))
        INTO v_orphan
        FROM lm.features f
        JOIN lm.bookings bk ON bk.feature_id = f.id AND bk.released_reason = 'checkout'
        JOIN lm.jobs j ON j.id = bk.job_id
        WHERE f.pool_id = v_b.pool_id AND lower(j.username) = v_b.usr AND lower(split_part(j.lead_host, '.', 1)) = v_b.host;
        -- and jobs of the user on the host that ended before their checkout was seen
        v_orphan := v_orphan + (SELECT coalesce(sum(e.quantity), 0) FROM lm.ended_holders e
                                WHERE e.pool_id = v_b.pool_id AND e.username = v_b.usr AND e.host = v_b.host);
        -- each checkout's licenses usable for this booking: the orphans take the newest first
        v_keys := '{}';
        v_usable := '{}';
        FOR v_co IN SELECT c.key, c.quantity - c.covered AS free, lm.checkout_room(c, v_b.created_at) AS room
                    FROM lm.checkout_covers c
                    WHERE c.pool_id = v_b.pool_id AND c.username = v_b.usr AND c.host = v_b.host
                    ORDER BY c.first_seen DESC, c.key DESC LOOP
            v_take := least(v_co.free, v_orphan);
            v_orphan := v_orphan - v_take;
            v_keys := v_co.key || v_keys;
            v_usable := least(v_co.room, v_co.free - v_take) || v_usable;
        END LOOP;
        IF v_round = 1 THEN
            -- the oldest checkout that matches the booking exactly, if any
            v_exact := array_position(v_usable, v_b.quantity);
            CONTINUE WHEN v_exact IS NULL;
            v_usable := array_fill(0::bigint, ARRAY[array_length(v_usable, 1)]);
            v_usable[v_exact] := v_b.quantity;
        END IF;
        CONTINUE WHEN (SELECT coalesce(sum(u), 0) FROM unnest(v_usable) u) < v_b.quantity;
        -- taken from the oldest checkouts first; a keyed checkout is taken whole
        v_left := v_b.quantity;
        FOR i IN 1 .. coalesce(array_length(v_keys, 1), 0) LOOP
            v_take := CASE WHEN v_keys[i] = '' THEN least(v_left, v_usable[i]) ELSE v_usable[i] END;
            CONTINUE WHEN v_take <= 0;
            UPDATE lm.checkout_covers c SET covered = c.covered + v_take, fresh = c.fresh - least(c.fresh, v_take)
            WHERE c.pool_id = v_b.pool_id AND c.username = v_b.usr AND c.host = v_b.host AND c.key = v_keys[i];
            v_left := greatest(v_left - v_take, 0);
            EXIT WHEN v_left = 0;
        END LOOP;
        UPDATE lm.bookings SET released_at = p_now, released_reason = 'checkout' WHERE id = v_b.id;
        v_released := v_released + 1;
    END LOOP;
    END LOOP;
    RETURN v_released;
END
$$;
