-- Claims also take at most so many jobs per tenant across all lanes together (policy/lanes.ts
-- workerCaps), a bound per lane as p_fresh and p_caps are: p_total_fresh[i] is lane i's bound for a
-- tenant not named in p_totals->(i-1) (a JSON object tenant → bound), NULL for none; what earlier
-- lanes of the claim gave the tenant counts against it. Each lane caps a tenant on its own (040);
-- a tenant with work in every lane could otherwise take every lane's share in one claim. The
-- 8-argument claim of 040 stays beside it, as a call of this one (at the end).

CREATE FUNCTION tidings_claim(
  p_owner TEXT, p_now BIGINT, p_until BIGINT, p_lanes TEXT[], p_limits INT[], p_after TEXT[],
  p_fresh INT[], p_caps JSONB, p_total_fresh INT[], p_totals JSONB
) RETURNS SETOF jobs LANGUAGE plpgsql AS $$
DECLARE
  i INT;
  v_lane TEXT;
  v_limit INT;
  v_after TEXT;
  v_tenants TEXT[];
  v_share INT;
  v_taken INT;
  v_tenant TEXT;
  v_pass INT;
  v_want INT;
  v_got INT;
  v_seen TEXT[] := '{}';
  v_ids BIGINT[];
  v_row RECORD;
  v_left INT[];
  v_n INT;
  v_start INT[];
  -- What each tenant took so far in this claim, all lanes together (tenant → jobs).
  v_spent JSONB := '{}';
BEGIN
  FOR i IN 1 .. coalesce(array_length(p_lanes, 1), 0) LOOP
    v_lane := p_lanes[i];
    v_limit := p_limits[i];
    v_after := coalesce(p_after[i], '');
    CONTINUE WHEN v_limit <= 0;
    -- Tenants with ready jobs in the lane after the cursor: a loose index scan, one seek each.
    v_tenants := ARRAY(
      WITH RECURSIVE t(tenant) AS (
        SELECT (SELECT min(tenant_id) FROM jobs WHERE state = 'ready' AND lane = v_lane AND tenant_id > v_after)
        UNION ALL
        SELECT (SELECT min(tenant_id) FROM jobs WHERE state = 'ready' AND lane = v_lane AND tenant_id > t.tenant)
          FROM t WHERE t.tenant IS NOT NULL
      )
      SELECT tenant FROM t WHERE tenant IS NOT NULL LIMIT 32);
    IF coalesce(array_length(v_tenants, 1), 0) < 32 AND v_after <> '' THEN
      v_tenants := v_tenants || ARRAY(
        WITH RECURSIVE t(tenant) AS (
          SELECT (SELECT min(tenant_id) FROM jobs WHERE state = 'ready' AND lane = v_lane)
          UNION ALL
          SELECT (SELECT min(tenant_id) FROM jobs WHERE state = 'ready' AND lane = v_lane AND tenant_id > t.tenant)
            FROM t WHERE t.tenant IS NOT NULL AND t.tenant < v_after
        )
        SELECT tenant FROM t WHERE tenant IS NOT NULL AND tenant <= v_after
        LIMIT 32 - coalesce(array_length(v_tenants, 1), 0));
    END IF;
    CONTINUE WHEN coalesce(array_length(v_tenants, 1), 0) = 0;

    -- What each tenant may still take of the lane in this claim: its cap, or the lane's limit.
    -- ... and no more than its bound across all lanes allows, less what earlier lanes gave it
    -- (least() passes over a NULL: no bound).
    v_left := ARRAY(
      SELECT least(
               coalesce((p_caps->(i - 1)->>t.tenant)::INT, p_fresh[i], v_limit),
               coalesce((p_totals->(i - 1)->>t.tenant)::INT, p_total_fresh[i])
                 - coalesce((v_spent->>t.tenant)::INT, 0))
        FROM unnest(v_tenants) WITH ORDINALITY AS t(tenant, ord) ORDER BY t.ord);
    v_start := v_left;
    -- First an equal share for every tenant with work, then what is left to whoever has more.
    v_share := greatest(1, ceil(v_limit::NUMERIC / array_length(v_tenants, 1)));
    v_taken := 0;
    FOR v_pass IN 1 .. 2 LOOP
      v_ids := '{}';
      FOR v_n IN 1 .. array_length(v_tenants, 1) LOOP
        v_tenant := v_tenants[v_n];
        EXIT WHEN v_taken >= v_limit;
        v_want := CASE WHEN v_pass = 1 THEN least(v_share, v_limit - v_taken) ELSE v_limit - v_taken END;
        v_want := least(v_want, v_left[v_n]);
        CONTINUE WHEN v_want <= 0;
        v_got := 0;
        FOR v_row IN
          SELECT id, partition_key FROM jobs
           WHERE state = 'ready' AND lane = v_lane AND tenant_id = v_tenant AND run_at <= p_now
           ORDER BY run_at, id LIMIT v_want + 32
           FOR UPDATE SKIP LOCKED
        LOOP
          EXIT WHEN v_got >= v_want;
          IF v_row.partition_key IS NOT NULL THEN
            -- Only the oldest ready job of a partition may run; the rest wait for it to finish.
            CONTINUE WHEN v_row.partition_key = ANY (v_seen);
            v_seen := v_seen || v_row.partition_key;
            CONTINUE WHEN NOT pg_try_advisory_xact_lock(hashtextextended(v_row.partition_key, 0));
            CONTINUE WHEN EXISTS (
              SELECT 1 FROM jobs WHERE state = 'leased' AND partition_key = v_row.partition_key);
          END IF;
          v_ids := v_ids || v_row.id;
          v_got := v_got + 1;
        END LOOP;
        v_taken := v_taken + v_got;
        v_left[v_n] := v_left[v_n] - v_got;
      END LOOP;
      -- One UPDATE per pass: the second pass then sees the first one's jobs as leased.
      RETURN QUERY
        WITH leased AS (
          UPDATE jobs SET state = 'leased', lease_owner = p_owner, lease_until = p_until, attempts = attempts + 1
           WHERE id = ANY (v_ids)
          RETURNING *)
        SELECT * FROM leased ORDER BY run_at, id;
    END LOOP;
    FOR v_n IN 1 .. array_length(v_tenants, 1) LOOP
      CONTINUE WHEN v_start[v_n] = v_left[v_n];
      v_spent := jsonb_set(v_spent, ARRAY[v_tenants[v_n]],
        to_jsonb(coalesce((v_spent->>v_tenants[v_n])::INT, 0) + v_start[v_n] - v_left[v_n]));
    END LOOP;
  END LOOP;
END
$$;

-- The 8-argument claim of 040, for workers of the version before until they restart: the claim
-- above with no bound across lanes (least() passes over the NULLs), so one body stays in use.
CREATE OR REPLACE FUNCTION tidings_claim(
  p_owner TEXT, p_now BIGINT, p_until BIGINT, p_lanes TEXT[], p_limits INT[], p_after TEXT[],
  p_fresh INT[], p_caps JSONB
) RETURNS SETOF jobs LANGUAGE sql AS $$
  SELECT * FROM tidings_claim(p_owner, p_now, p_until, p_lanes, p_limits, p_after, p_fresh, p_caps,
    NULL::INT[], NULL::JSONB)
$$;
