-- Inventory writes that touch several rows at once. Each is one call, one transaction.

-- Creates a configuration with its license servers and features (all or nothing). The body was
-- type-checked by the API; values are checked by the tables' constraints.
-- Locks: the inventory lock, taken by the first INSERT's BEFORE STATEMENT trigger (every pool
-- and counter, lm.lock_inventory), before any row.
CREATE OR REPLACE FUNCTION lm.create_configuration(p_config jsonb)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    v_id bigint;
BEGIN
    INSERT INTO lm.configurations (name, cluster_client_id, grace_time, type, outage_grace)
    VALUES (p_config->>'name', p_config->>'cluster_client_id',
            coalesce((p_config->>'grace_time')::integer, 60), p_config->>'type',
            coalesce((p_config->>'outage_grace')::integer, 3600))
    RETURNING id INTO v_id;

    INSERT INTO lm.license_servers (config_id, host, port)
    SELECT v_id, s.host, s.port
    FROM jsonb_to_recordset(coalesce(p_config->'license_servers', '[]')) AS s(host text, port integer);

    INSERT INTO lm.features (config_id, product_id, name, reserved, share, max_use)
    SELECT v_id, f.product_id, f.name, coalesce(f.reserved, 0), coalesce(f.share, 1), f.max_use
    FROM jsonb_to_recordset(coalesce(p_config->'features', '[]')) AS f(name text, product_id bigint, reserved bigint,
                                                                      share integer, max_use bigint);
    RETURN v_id;
END
$$;

-- Sets total and used of the caller's features from a license-server report:
-- [{product_name, feature_name, total, used, expires_at?, expiring?}]. Matching is by product name, feature name and
-- the caller's cluster; one unknown item refuses the whole report (LM002), so a typo can't
-- leave half the pools updated. A reading changes what a pool has free, so it is written
-- under the pools' locks, taken first in ascending id like admission (lm.lock_pools): the two
-- never deadlock, and an admission decides on one reading, not half of one.
CREATE OR REPLACE FUNCTION lm.update_features_bulk(p_cluster text, p_items jsonb, p_now timestamptz DEFAULT now())
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    v_missing text;
    v_count integer;
BEGIN
    SELECT string_agg(i.product_name || '.' || i.feature_name, ', ')
    INTO v_missing
    FROM jsonb_to_recordset(p_items) AS i(product_name text, feature_name text)
    WHERE NOT EXISTS (
        SELECT 1 FROM lm.features f
        JOIN lm.products p ON p.id = f.product_id
        JOIN lm.configurations c ON c.id = f.config_id
        WHERE c.cluster_client_id = p_cluster AND p.name = i.product_name AND f.name = i.feature_name);
    IF v_missing IS NOT NULL THEN
        RAISE EXCEPTION 'Feature not found.'
            USING ERRCODE = 'LM002', DETAIL = 'not features of cluster ' || p_cluster || ': ' || v_missing;
    END IF;

    PERFORM lm.lock_pools(ARRAY(SELECT f.id FROM lm.features f JOIN lm.configurations c ON c.id = f.config_id
                                WHERE c.cluster_client_id = p_cluster));

    UPDATE lm.features f
    SET total = i.total, used = i.used, reported_at = p_now, failed_at = NULL
    FROM jsonb_to_recordset(p_items) AS i(product_name text, feature_name text, total bigint, used bigint),
         lm.products p, lm.configurations c
    WHERE p.id = f.product_id AND c.id = f.config_id AND c.cluster_client_id = p_cluster
      AND p.name = i.product_name AND f.name = i.feature_name;
    GET DIAGNOSTICS v_count = ROW_COUNT;
    -- the expiry only of items that say one (null clears it): clients of the reference API send none
    PERFORM lm.apply_expiry(p_cluster, coalesce((SELECT jsonb_agg(x || jsonb_build_object('product_feature', (x->>'product_name') || '.' || (x->>'feature_name')))
                                                 FROM jsonb_array_elements(p_items) x WHERE x ? 'expires_at'), '[]'));
    RETURN v_count;
END
$$;

-- What a delete takes away from running jobs: the active bookings of p_features. Without
-- p_force they refuse the delete (LM005, 409), the DETAIL naming them (at most 100, as JSON:
-- [{booking_id, job_id, cluster_client_id, slurm_job_id, username, product_feature, quantity}]);
-- with it they are released (reason 'inventory') and counted. The caller holds the inventory
-- lock, so no admission can add one between this check and the delete.
CREATE OR REPLACE FUNCTION lm.release_dependents(p_what text, p_features bigint[], p_force boolean, p_now timestamptz)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    v_count integer;
    v_named jsonb;
BEGIN
    SELECT count(*), jsonb_agg(d.o ORDER BY d.id) FILTER (WHERE d.n <= 100)
    INTO v_count, v_named
    FROM (SELECT b.id, row_number() OVER (ORDER BY b.id) AS n,
                 jsonb_build_object('booking_id', b.id, 'job_id', j.id, 'cluster_client_id', j.cluster_client_id,
                                    'slurm_job_id', j.slurm_job_id, 'username', j.username,
                                    'product_feature', p.name || '.' || f.name, 'quantity', b.quantity) AS o
          FROM lm.bookings b
          JOIN lm.jobs j ON j.id = b.job_id
          JOIN lm.features f ON f.id = b.feature_id
          JOIN lm.products p ON p.id = f.product_id
          WHERE b.feature_id = ANY (p_features) AND b.released_at IS NULL AND b.expires_at > p_now) d;
    IF v_count = 0 THEN
        RETURN 0;
    END IF;
    IF NOT p_force THEN
        RAISE EXCEPTION '% is needed by % active booking(s); delete with force=true to release them', p_what, v_count
            USING ERRCODE = 'LM005', DETAIL = v_named::text;
    END IF;
    UPDATE lm.bookings SET released_at = p_now, released_reason = 'inventory'
    WHERE feature_id = ANY (p_features) AND released_at IS NULL AND expires_at > p_now;
    RETURN v_count;
END
$$;

-- DELETE /configurations/{id}, /features/{id} and /license_servers/{id} (p_what: configuration,
-- feature, license server). A configuration's license servers, features and their bookings go
-- with it; a feature's bookings go with it. The bookings that depend on what goes: those of the
-- features deleted; for a license server, those of its configuration's features when it is the
-- last one (without it nothing reads what those licenses are doing; removing one of several, a
-- failover, keeps them served and needs no force, though it may split a pool it linked).
-- Refused while any is active unless p_force (lm.release_dependents); returns how many bookings
-- were released, NULL when there is no such row. Locks: the inventory lock first (every pool
-- and counter, lm.lock_inventory), then the rows, like every inventory change.
-- p_scope: the caller's cluster (NULL: admin); another cluster's configuration, feature or
-- license server is "not found" (NULL), as if it did not exist, and nothing changes.
DROP FUNCTION IF EXISTS lm.delete_inventory(text, bigint, boolean, timestamptz);
CREATE OR REPLACE FUNCTION lm.delete_inventory(p_what text, p_id bigint, p_force boolean, p_now timestamptz DEFAULT now(),
                                               p_scope text DEFAULT NULL)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    v_config bigint;
    v_features bigint[];
    v_released integer;
BEGIN
    PERFORM lm.lock_inventory();
    CASE p_what
    WHEN 'configuration' THEN
        v_config := (SELECT id FROM lm.configurations WHERE id = p_id);
        v_features := ARRAY(SELECT id FROM lm.features WHERE config_id = p_id);
    WHEN 'feature' THEN
        v_config := (SELECT config_id FROM lm.features WHERE id = p_id);
        v_features := ARRAY[p_id];
    WHEN 'license server' THEN
        v_config := (SELECT config_id FROM lm.license_servers WHERE id = p_id);
        v_features := ARRAY(SELECT f.id FROM lm.features f WHERE f.config_id = v_config
                            AND NOT EXISTS (SELECT 1 FROM lm.license_servers s WHERE s.config_id = v_config AND s.id <> p_id));
    END CASE;
    IF v_config IS NULL OR NOT lm.config_in_scope(p_scope, v_config) THEN
        RETURN NULL;
    END IF;
    v_released := lm.release_dependents(p_what || ' ' || p_id, v_features, p_force, p_now);
    CASE p_what
    WHEN 'configuration' THEN DELETE FROM lm.configurations WHERE id = p_id;
    WHEN 'feature' THEN DELETE FROM lm.features WHERE id = p_id;
    WHEN 'license server' THEN DELETE FROM lm.license_servers WHERE id = p_id;
    END CASE;
    RETURN v_released;
END
$$;

-- True when configuration p_config belongs to cluster p_cluster, or p_cluster is NULL (the
-- caller is admin): the cluster check of writes to features by id (PUT /features/{id}).
CREATE OR REPLACE FUNCTION lm.config_in_scope(p_cluster text, p_config bigint)
RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT p_cluster IS NULL OR EXISTS (SELECT 1 FROM lm.configurations c WHERE c.id = p_config AND c.cluster_client_id = p_cluster)
$$;

-- True when cluster p_cluster is the caller's (p_scope), or the caller is admin (NULL): in the
-- WHERE of PUT /configurations/{id}, so that none is moved to another cluster (404).
CREATE OR REPLACE FUNCTION lm.cluster_in_scope(p_scope text, p_cluster text)
RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
    SELECT p_scope IS NULL OR p_scope = p_cluster
$$;

-- The cluster check of POST /configurations: the cluster it names must be the caller's (p_scope),
-- unless the caller is admin (NULL). Raises LM004 (403): the caller named the cluster itself.
CREATE OR REPLACE FUNCTION lm.require_cluster(p_scope text, p_cluster text)
RETURNS boolean LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF p_scope IS NOT NULL AND p_cluster IS DISTINCT FROM p_scope THEN
        RAISE EXCEPTION 'cluster_client_id % is not the caller''s cluster', p_cluster USING ERRCODE = 'LM004';
    END IF;
    RETURN true;
END
$$;

-- Policy is an admin's (issue 19, case 7): a feature's share, max_use and reserved decide what
-- every cluster of its pool may book (reserved is the largest over the pool's members, so one
-- cluster's value cuts the others'). A caller short of license-manager:admin (lm.caller_cluster;
-- the agent role's feature:update is for readings) may write them only as they are: unchanged
-- on an update, the column defaults on an insert. Otherwise LM004 (403) naming the fields, the
-- whole statement undone: a field the API accepted is never dropped in silence. Checked on the
-- row, where the value is written, so every route (PUT /features/{id}, POST /features, POST
-- /configurations) and any later one is covered.
CREATE OR REPLACE FUNCTION lm.check_policy()
RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_fields text[];
BEGIN
    IF lm.caller_cluster() IS NULL THEN
        RETURN NEW;
    END IF;
    v_fields := ARRAY(SELECT x.field FROM (VALUES
        ('share', NEW.share IS DISTINCT FROM CASE WHEN TG_OP = 'UPDATE' THEN OLD.share ELSE 1 END),
        ('max_use', NEW.max_use IS DISTINCT FROM CASE WHEN TG_OP = 'UPDATE' THEN OLD.max_use END),
        ('reserved', NEW.reserved IS DISTINCT FROM CASE WHEN TG_OP = 'UPDATE' THEN OLD.reserved ELSE 0 END)) x(field, changed)
        WHERE x.changed);
    IF cardinality(v_fields) > 0 THEN
        RAISE EXCEPTION '% of a feature is policy: setting it needs license-manager:admin', array_to_string(v_fields, ', ')
            USING ERRCODE = 'LM004', DETAIL = jsonb_build_object('fields', to_jsonb(v_fields), 'feature_id', NEW.id)::text;
    END IF;
    RETURN NEW;
END
$$;

DROP TRIGGER IF EXISTS features_policy ON lm.features;
CREATE TRIGGER features_policy BEFORE INSERT OR UPDATE OF share, max_use, reserved ON lm.features
    FOR EACH ROW EXECUTE FUNCTION lm.check_policy();
