-- Inventory writes that touch several rows at once. Each is one call, one transaction.

-- Creates a configuration with its license servers and features (all or nothing). The body was
-- type-checked by the API; values are checked by the tables' constraints.
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

    INSERT INTO lm.features (config_id, product_id, name, reserved)
    SELECT v_id, f.product_id, f.name, coalesce(f.reserved, 0)
    FROM jsonb_to_recordset(coalesce(p_config->'features', '[]')) AS f(name text, product_id bigint, reserved bigint);
    RETURN v_id;
END
$$;

-- Sets total and used of the caller's features from a license-server report:
-- [{product_name, feature_name, total, used}]. Matching is by product name, feature name and
-- the caller's cluster; one unknown item refuses the whole report (LM002), so a typo can't
-- leave half the pools updated. Rows are locked in id order, like admission, so the two never
-- deadlock.
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

    PERFORM 1 FROM lm.features f
    JOIN lm.configurations c ON c.id = f.config_id
    WHERE c.cluster_client_id = p_cluster
    ORDER BY f.id FOR UPDATE OF f;

    UPDATE lm.features f
    SET total = i.total, used = i.used, reported_at = p_now
    FROM jsonb_to_recordset(p_items) AS i(product_name text, feature_name text, total bigint, used bigint),
         lm.products p, lm.configurations c
    WHERE p.id = f.product_id AND c.id = f.config_id AND c.cluster_client_id = p_cluster
      AND p.name = i.product_name AND f.name = i.feature_name;
    GET DIAGNOSTICS v_count = ROW_COUNT;
    RETURN v_count;
END
$$;
