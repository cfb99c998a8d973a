-- Pools, and the lock every change of what a pool has free takes. The core of License Manager
-- is all in SQL so that every lm-server instance applies the same rule under the same locks;
-- it is split by concern: R__booking_1_pools (this file), _1_shares, _2_admission, _3_usage,
-- _4_plan, _5_agent_report (Flyway applies repeatable files in name order; later ones use earlier ones).
-- Time is a parameter (p_now, default now()) so tests can stand at a grace boundary.
--
-- One lock order, everywhere (a cycle is a deadlock; PostgreSQL then kills one transaction, which
-- lm.db.Sql retries after a 1 s deadlock_timeout — a stall, or a 503 when the retries run out):
--   1. the inventory lock (lm.lock_inventory: a transaction advisory lock), taken only by changes
--      of configurations, license servers and features, before anything else — a BEFORE
--      STATEMENT trigger takes it, so even a DELETE typed in psql cannot lock a feature row first;
--   2. pool rows, each with its lm.pool_counts row, in ascending pool id (lm.lock_pools); an
--      inventory change takes them all;
--   3. then features, jobs and bookings rows.
--   (Before all of these, lm.book_job may lock its own rows of lm.untracked_licenses through
--   lm.count_untracked; nothing else locks those rows, so they take no part in a cycle.)
-- An agent report (lm.run_agent_report) takes steps 2 and 3 a few pools (or ended jobs) per
-- transaction, so an admission waits for a few pools' work at most, never for a whole report; its
-- history (samples, checkouts, distribution log) it writes holding no pool, under an advisory
-- lock of its own ('lm.usage_history'), taken last: its holder waits for nothing but the history
-- rows that only holders write, so it closes no cycle.
-- What only decreases what is booked (a release, an expiry, a job's end) takes just the
-- pool_counts rows of step 2, in the same ascending order (lm.lock_pools(…, true)): admission's
-- decision is made under both locks, so it sees the release either committed or not started,
-- and a release can never make it admit too much — it may only refuse something that a moment
-- later would fit. Not queueing behind the admissions on a hot pool, the epilog stays fast.
-- Pool rows are locked FOR NO KEY UPDATE, never FOR UPDATE: a release that changes one counter
-- twice in a transaction (two bookings of one pool) has its second UPDATE re-check the
-- counter's foreign key, a KEY SHARE lock on the pool's row, which FOR UPDATE would block
-- while the admission holding that row waits for the counter (a deadlock the mixed-load test
-- of LockOrderTest found). Deleting a pool (lm.assign_pools) needs the stronger lock, and
-- holds every counter by then, so no release is in the middle of such a check.

-- The inventory lock: serializes inventory changes, then locks every pool and its counter (step
-- 1 and 2 of the order above). Inventory changes are rare; taking everything keeps lm.assign_pools
-- simple and makes every admission, release and report wait at its first lock instead of
-- holding a pool while it waits for a feature row.
CREATE OR REPLACE FUNCTION lm.lock_inventory()
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    -- all pools locked would serialize changes too, except when there is no pool yet (two first
    -- configurations sharing a server would each miss the other's features)
    PERFORM pg_advisory_xact_lock(hashtext('lm.inventory'));
    PERFORM 1 FROM lm.pools p JOIN lm.pool_counts c ON c.pool_id = p.id
    ORDER BY p.id FOR NO KEY UPDATE;
END
$$;

-- BEFORE STATEMENT trigger of every inventory table: takes the inventory lock (lm.lock_inventory)
-- before the statement touches a row, however the statement was sent (API, psql).
CREATE OR REPLACE FUNCTION lm.inventory_changing()
RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM lm.lock_inventory();
    RETURN NULL;
END
$$;

-- total/used/reported_at/failed_at are readings: written under the pool lock by apply_usage and
-- update_features_bulk, which hold their cluster's pools already (taking all pools there would
-- break the order); PUT /features/{id} names every column, so it takes this trigger too.
-- share and max_use are policy the admission reads under its pool lock: a change waits for the
-- admissions in progress, from psql too (SharesTest.aShareChangeWaitsForTheAdmissionInProgress).
DROP TRIGGER IF EXISTS features_lock ON lm.features;
CREATE TRIGGER features_lock BEFORE INSERT OR DELETE OR UPDATE OF name, product_id, config_id, reserved, share, max_use ON lm.features
    FOR EACH STATEMENT EXECUTE FUNCTION lm.inventory_changing();
DROP TRIGGER IF EXISTS license_servers_lock ON lm.license_servers;
CREATE TRIGGER license_servers_lock BEFORE INSERT OR DELETE OR UPDATE ON lm.license_servers
    FOR EACH STATEMENT EXECUTE FUNCTION lm.inventory_changing();
DROP TRIGGER IF EXISTS configurations_lock ON lm.configurations;
CREATE TRIGGER configurations_lock BEFORE INSERT OR DELETE OR UPDATE ON lm.configurations
    FOR EACH STATEMENT EXECUTE FUNCTION lm.inventory_changing();

-- Who is changing the inventory, as lm.db.Actor set it for this transaction: the caller's cluster
-- when the caller is not license-manager:admin, NULL for an admin. NULL too where no API caller
-- is named (psql, migrations, lm-server's own settings at startup): whoever writes to the
-- database directly is its administrator already. Read by lm.assign_pools (joining another
-- cluster's pool) and lm.check_policy (R__inventory_functions.sql).
CREATE OR REPLACE FUNCTION lm.caller_cluster()
RETURNS text LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN current_setting('lm.admin', true) = 'false' THEN coalesce(current_setting('lm.cluster', true), '') END
$$;

-- Pairs of configurations (a, b) that name one license server, both ways round (a = b included).
-- Without DNS: host names are equal after lower case and without trailing dots; and, unless
-- lm.settings.license_server_short_names is off, a name without a dot is the server whose first
-- label it is (lic9 and lic9.example.org; not for a numeric address: 10 is no short name of
-- 10.0.0.9). On the same port. Two equi-joins rather than one join on an OR, so each is a hash join.
CREATE OR REPLACE FUNCTION lm.server_links()
RETURNS TABLE (a bigint, b bigint) LANGUAGE sql STABLE AS $$
    WITH s AS (
        SELECT config_id, port, lower(rtrim(host, '.')) AS name FROM lm.license_servers
    ), short AS (
        SELECT s1.config_id AS short, s2.config_id AS long
        FROM s s1 JOIN s s2 ON s2.port = s1.port AND split_part(s2.name, '.', 2) <> ''
                           AND s1.name = split_part(s2.name, '.', 1)
        WHERE coalesce((SELECT license_server_short_names FROM lm.settings), true) AND s2.name !~ '^[0-9.]+$'
    )
    SELECT s1.config_id, s2.config_id FROM s s1 JOIN s s2 ON s2.port = s1.port AND s2.name = s1.name
    UNION SELECT short, long FROM short
    UNION SELECT long, short FROM short
$$;

-- Recomputes which pool every feature belongs to: features of one product.feature are in one
-- pool when their configurations name one license server (lm.server_links), transitively (so
-- lic9 links lic9.a.org and lic9.b.org when all three are configured: a site whose short names
-- repeat across domains turns the short-name rule off, lm.conf(5)); the pool's id is its
-- smallest feature id. Then recounts every pool's
-- booked. Runs from statement triggers on features, license servers and lm.settings: inventory
-- changes are rare, so recomputing everything keeps it simple and always right. Takes the
-- inventory lock (all pools and counters; normally held already by the BEFORE trigger): the
-- recount must not run while a release that holds a counter is still uncommitted, or it would
-- count that booking.
-- A caller short of admin (lm.caller_cluster) may not bring a feature of its cluster into a
-- pool with another cluster's features it was not in before (LM004, 403, naming the pool and
-- the clusters): the pool's readings and bookings would then be both clusters', and one
-- cluster's configuration would decide what the other may book. Only an admin joins clusters.
CREATE OR REPLACE FUNCTION lm.assign_pools()
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    v_ids bigint[];
    v_labels bigint[];
    v_caller text := lm.caller_cluster();
    v_joined record;
BEGIN
    PERFORM lm.lock_inventory();

    WITH RECURSIVE edges AS (
        SELECT DISTINCT f.id AS a, g.id AS b
        FROM lm.server_links() l
        JOIN lm.features f ON f.config_id = l.a
        JOIN lm.features g ON g.config_id = l.b AND g.product_id = f.product_id AND g.name = f.name
    ), reach (a, b) AS (
        SELECT id, id FROM lm.features
        UNION
        SELECT r.a, e.b FROM reach r JOIN edges e ON e.a = r.b
    )
    SELECT array_agg(a), array_agg(label) INTO v_ids, v_labels
    FROM (SELECT a, min(b) AS label FROM reach GROUP BY a) l;

    IF v_caller IS NOT NULL THEN
        -- pool_id is still the pool before this change (NULL for a new feature)
        SELECT g.pool_id, p.name || '.' || g.name AS product_feature, f.id AS feature_id,
               (SELECT jsonb_agg(DISTINCT oc.cluster_client_id ORDER BY oc.cluster_client_id)
                FROM lm.features o JOIN lm.configurations oc ON oc.id = o.config_id
                WHERE o.pool_id = g.pool_id AND oc.cluster_client_id IS DISTINCT FROM v_caller) AS clusters
        INTO v_joined
        FROM unnest(v_ids, v_labels) nf(id, label)
        JOIN unnest(v_ids, v_labels) ng(id, label) ON ng.label = nf.label
        JOIN lm.features f ON f.id = nf.id
        JOIN lm.configurations cf ON cf.id = f.config_id
        JOIN lm.features g ON g.id = ng.id
        JOIN lm.configurations cg ON cg.id = g.config_id
        JOIN lm.products p ON p.id = g.product_id
        WHERE cf.cluster_client_id = v_caller AND cg.cluster_client_id IS DISTINCT FROM v_caller
          AND f.pool_id IS DISTINCT FROM g.pool_id
        ORDER BY g.pool_id, f.id
        LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION 'pool % (%) is used by cluster %: joining it needs license-manager:admin',
                v_joined.pool_id, v_joined.product_feature,
                (SELECT string_agg(x, ', ') FROM jsonb_array_elements_text(v_joined.clusters) x)
                USING ERRCODE = 'LM004',
                      DETAIL = jsonb_build_object('pool_id', v_joined.pool_id, 'product_feature', v_joined.product_feature,
                                                  'clusters', v_joined.clusters, 'feature_id', v_joined.feature_id)::text;
        END IF;
    END IF;

    INSERT INTO lm.pools (id)
    SELECT DISTINCT x FROM unnest(coalesce(v_labels, '{}')) x
    ON CONFLICT (id) DO NOTHING;
    INSERT INTO lm.pool_counts (pool_id)
    SELECT DISTINCT x FROM unnest(coalesce(v_labels, '{}')) x
    ON CONFLICT (pool_id) DO NOTHING;

    UPDATE lm.features f SET pool_id = l.label
    FROM unnest(v_ids, v_labels) AS l(id, label)
    WHERE f.id = l.id AND f.pool_id IS DISTINCT FROM l.label;

    DELETE FROM lm.pools p WHERE NOT EXISTS (SELECT 1 FROM lm.features f WHERE f.pool_id = p.id);

    UPDATE lm.pool_counts p SET booked = c.booked
    FROM (SELECT q.id, coalesce((SELECT sum(b.quantity) FROM lm.bookings b JOIN lm.features f ON f.id = b.feature_id
                                 WHERE f.pool_id = q.id AND b.released_at IS NULL), 0)::bigint AS booked
          FROM lm.pools q) c
    WHERE p.pool_id = c.id AND p.booked <> c.booked;
END
$$;

CREATE OR REPLACE FUNCTION lm.inventory_changed()
RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM lm.assign_pools();
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS features_pools ON lm.features;
CREATE TRIGGER features_pools AFTER INSERT OR DELETE OR UPDATE OF name, product_id, config_id ON lm.features
    FOR EACH STATEMENT EXECUTE FUNCTION lm.inventory_changed();
DROP TRIGGER IF EXISTS license_servers_pools ON lm.license_servers;
CREATE TRIGGER license_servers_pools AFTER INSERT OR DELETE OR UPDATE ON lm.license_servers
    FOR EACH STATEMENT EXECUTE FUNCTION lm.inventory_changed();
-- the short-name rule decides which hosts are one server: turning it on or off re-forms the pools
-- (lm-server writes lm.settings at every start; an unchanged value recomputes nothing)
DROP TRIGGER IF EXISTS settings_pools ON lm.settings;
CREATE TRIGGER settings_pools AFTER UPDATE OF license_server_short_names ON lm.settings
    FOR EACH ROW WHEN (OLD.license_server_short_names IS DISTINCT FROM NEW.license_server_short_names)
    EXECUTE FUNCTION lm.inventory_changed();

-- Keeps lm.pool_counts.booked equal to the pool's unreleased bookings, and lm.owner_counts.held
-- equal to what each owner (feature, job account) holds: its unreleased bookings and those
-- released by the job's own checkout (see R__booking_1_shares.sql). The caller holds the pool's
-- counter row already (lm.lock_pools, or lm.lock_inventory for cascaded deletes), so the order
-- in which rows fire this does not matter, and no two sessions write one owner's counter at once.
CREATE OR REPLACE FUNCTION lm.count_booked()
RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_old boolean := TG_OP IN ('UPDATE', 'DELETE') AND (OLD.released_at IS NULL OR OLD.released_reason = 'checkout');
    v_new boolean := TG_OP IN ('UPDATE', 'INSERT') AND (NEW.released_at IS NULL OR NEW.released_reason = 'checkout');
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.released_at IS NULL THEN
        UPDATE lm.pool_counts SET booked = booked - OLD.quantity
        WHERE pool_id = (SELECT pool_id FROM lm.features WHERE id = OLD.feature_id);
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') AND NEW.released_at IS NULL THEN
        UPDATE lm.pool_counts SET booked = booked + NEW.quantity
        WHERE pool_id = (SELECT pool_id FROM lm.features WHERE id = NEW.feature_id);
    END IF;
    -- a release by checkout still holds: nothing to write
    IF v_old AND v_new AND OLD.feature_id = NEW.feature_id AND OLD.quantity = NEW.quantity
       AND OLD.account IS NOT DISTINCT FROM NEW.account THEN
        RETURN NULL;
    END IF;
    IF v_old THEN
        UPDATE lm.owner_counts SET held = held - OLD.quantity
        WHERE feature_id = OLD.feature_id AND account = coalesce(OLD.account, '');
    END IF;
    IF v_new THEN
        INSERT INTO lm.owner_counts AS o (feature_id, account, held) VALUES (NEW.feature_id, coalesce(NEW.account, ''), NEW.quantity)
        ON CONFLICT (feature_id, account) DO UPDATE SET held = o.held + excluded.held;
    END IF;
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS bookings_count ON lm.bookings;
CREATE TRIGGER bookings_count AFTER INSERT OR DELETE OR UPDATE OF released_at, released_reason, quantity, feature_id, account ON lm.bookings
    FOR EACH ROW EXECUTE FUNCTION lm.count_booked();

-- fills pool_id for rows that existed before this file (and is a no-op when all is right)
SELECT lm.assign_pools();

-- The features that are the same physical license as p_feature (for reports).
CREATE OR REPLACE FUNCTION lm.pool_members(p_feature bigint)
RETURNS SETOF bigint LANGUAGE sql STABLE AS $$
    SELECT g.id FROM lm.features f JOIN lm.features g ON g.pool_id = f.pool_id WHERE f.id = p_feature
$$;

-- What one pool has, seen from any of its features. total and used come from the member the
-- license server reported last (all members poll the same server; the newest answer is the
-- truest); reserved is the largest any configuration keeps back; booked counts the active
-- bookings of every member, i.e. of every cluster. available may be negative (outside usage
-- grew after bookings were made): admission then refuses everything.
-- held: the newest reading is older than the outage grace (or there is none), whether or not a
-- failure was reported — an agent that died or lost its token reports nothing, and silence must
-- not be trusted forever; nothing is known to be free, so available is then at most 0 and the
-- plan holds the whole license. stale: the last poll failed, or the pool is held.
-- available also leaves free the offline budgets of the clusters that have been silent for three
-- of their agent intervals (lm.budget_leases, R__booking_6_offline.sql), until the budget has
-- expired and grace_time passed: their prologs may be booking against them unseen. Not in
-- booked: nothing is booked yet, and the replay of the ledger records what was. One index scan
-- over the pool's few leases (a row per cluster of the pool), no write.
CREATE OR REPLACE FUNCTION lm.pool_state(p_feature bigint, p_now timestamptz DEFAULT now())
RETURNS TABLE (pool_id bigint, total bigint, used bigint, reserved bigint, booked bigint, available bigint,
               stale boolean, held boolean)
LANGUAGE plpgsql STABLE
-- Bookings of a hot pool are inserted and deleted hundreds of times a second, so between two
-- autovacuums the table is mostly dead rows while its statistics still say "tiny", and a cached
-- plan would seq-scan all of it under the pool lock (measured 0.57 ms instead of 0.08 ms).
SET enable_seqscan = off
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    v_pool bigint;
BEGIN
    SELECT f.pool_id INTO v_pool FROM lm.features f WHERE f.id = p_feature;
    RETURN QUERY
    WITH latest AS (
        SELECT f.total, f.used, f.reported_at, f.failed_at, c.outage_grace
        FROM lm.features f JOIN lm.configurations c ON c.id = f.config_id
        WHERE f.pool_id = v_pool
        ORDER BY f.reported_at DESC NULLS LAST, f.id LIMIT 1
    ), s AS (
        SELECT l.*,
               (SELECT max(f.reserved) FROM lm.features f WHERE f.pool_id = v_pool) AS reserved,
               p.booked - (SELECT coalesce(sum(b.quantity), 0) FROM lm.bookings b JOIN lm.features f ON f.id = b.feature_id
                           WHERE b.released_at IS NULL AND b.expires_at <= p_now AND f.pool_id = v_pool)::bigint AS booked,
               coalesce(l.reported_at, '-infinity') < p_now - make_interval(secs => l.outage_grace) AS held,
               (SELECT coalesce(sum(greatest(o.budget, o.prior_budget)), 0) FROM lm.budget_leases o
                WHERE o.pool_id = v_pool AND o.silent_at <= p_now AND o.held_until > p_now)::bigint AS leased
        FROM latest l JOIN lm.pool_counts p ON p.pool_id = v_pool
    )
    SELECT v_pool, s.total, s.used, s.reserved, s.booked,
           CASE WHEN s.held THEN least(0, s.total - s.reserved - s.used - s.booked - s.leased)
                ELSE s.total - s.reserved - s.used - s.booked - s.leased END,
           s.held OR (s.failed_at IS NOT NULL AND s.failed_at >= coalesce(s.reported_at, '-infinity')), s.held
    FROM s;
END
$$;

-- The caller's feature for a Slurm-style "product.feature" name. Product names cannot contain
-- a dot (products' CHECK), so the first dot splits. With several configurations of one cluster
-- serving the same name, the oldest feature row wins (documented in lm-server(8)).
CREATE OR REPLACE FUNCTION lm.find_feature(p_cluster text, p_product_feature text)
RETURNS bigint LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT f.id
    FROM lm.features f
    JOIN lm.products p ON p.id = f.product_id
    JOIN lm.configurations c ON c.id = f.config_id
    WHERE c.cluster_client_id = p_cluster
      AND p.name = split_part(p_product_feature, '.', 1)
      AND f.name = substr(p_product_feature, length(split_part(p_product_feature, '.', 1)) + 2)
    ORDER BY f.id
    LIMIT 1);
END
$$;

-- the one-argument version the next one replaces would make every call ambiguous
DROP FUNCTION IF EXISTS lm.lock_pools(bigint[]);

-- Locks the pools that p_features belong to, each pool's row with its counter row, in ascending
-- pool id (step 2 of the order above). Every function that adds to what a pool has booked, or
-- writes its readings, takes this first, so two admissions on one pool run one after the other
-- and the second sees the first's booking; the fixed order means two jobs asking for several
-- pools never deadlock. p_counts_only: only the counter rows, for what only decreases booked
-- (see the top of this file).
CREATE OR REPLACE FUNCTION lm.lock_pools(p_features bigint[], p_counts_only boolean DEFAULT false)
RETURNS void LANGUAGE plpgsql
-- Generic plans: these run on every admission or release, and with custom plans PostgreSQL
-- re-plans their array-parameter queries on every call (measured 124 µs → 30 µs for lock_pools).
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    v_wanted bigint[];
    v_locked bigint[];
BEGIN
    FOR attempt IN 1..3 LOOP
        v_wanted := ARRAY(SELECT DISTINCT f.pool_id FROM lm.features f WHERE f.id = ANY (p_features) ORDER BY 1);
        IF p_counts_only THEN
            v_locked := ARRAY(SELECT c.pool_id FROM lm.pool_counts c WHERE c.pool_id = ANY (v_wanted)
                              ORDER BY c.pool_id FOR NO KEY UPDATE);
        ELSE
            v_locked := ARRAY(SELECT p.id FROM lm.pools p JOIN lm.pool_counts c ON c.pool_id = p.id WHERE p.id = ANY (v_wanted)
                              ORDER BY p.id FOR NO KEY UPDATE);
        END IF;
        -- an inventory change (lm.assign_pools) may have moved the features to other pools while
        -- we waited; the lock only counts if it is on the pools they are in now
        IF v_locked = ARRAY(SELECT DISTINCT f.pool_id FROM lm.features f WHERE f.id = ANY (p_features) ORDER BY 1) THEN
            RETURN;
        END IF;
    END LOOP;
    RAISE EXCEPTION 'pools changed while locking them' USING ERRCODE = '40001';
END
$$;
