-- The two multi-step hot paths run inside the database: one round trip per claim and per
-- accepted batch, instead of one per row. Each statement inside a function takes a fresh
-- snapshot (READ COMMITTED), so a check made after taking a lock sees what the lock's previous
-- holder committed.

-- Leases ready jobs: per lane in the order asked, shared among the tenants with work (up to 32,
-- round robin from `p_after`), at most one leased job per partition key. Rows another claimer
-- holds are skipped (SKIP LOCKED); a partition is taken under a transaction-scoped advisory
-- lock, then checked for a job already leased, so two processes never run one partition at once.
CREATE FUNCTION tidings_claim(
  p_owner TEXT, p_now BIGINT, p_until BIGINT, p_lanes TEXT[], p_limits INT[], p_after TEXT[]
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
  v_row RECORD;
  v_job jobs;
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

    -- First an equal share for every tenant with work, then what is left to whoever has more.
    v_share := greatest(1, ceil(v_limit::NUMERIC / array_length(v_tenants, 1)));
    v_taken := 0;
    FOR v_pass IN 1 .. 2 LOOP
      FOREACH v_tenant IN ARRAY v_tenants LOOP
        EXIT WHEN v_taken >= v_limit;
        v_want := CASE WHEN v_pass = 1 THEN least(v_share, v_limit - v_taken) ELSE v_limit - v_taken END;
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
          UPDATE jobs SET state = 'leased', lease_owner = p_owner, lease_until = p_until,
                          attempts = attempts + 1
           WHERE id = v_row.id
          RETURNING * INTO v_job;
          RETURN NEXT v_job;
          v_got := v_got + 1;
        END LOOP;
        v_taken := v_taken + v_got;
      END LOOP;
    END LOOP;
  END LOOP;
END
$$;

-- Accepts a batch of validated events (see AcceptEvent in src/store/port.ts, serialised by
-- src/store/postgres/events.ts): per event, the idempotency key, the event row, its recipients
-- and its first job, all in the caller's one statement. Answers one result object per event.
CREATE FUNCTION tidings_accept(p_events JSONB, p_window BIGINT) RETURNS JSONB LANGUAGE plpgsql AS $$
DECLARE
  e JSONB;
  s JSONB;
  v_tenant TEXT;
  v_now BIGINT;
  v_key TEXT;
  v_lane TEXT;
  v_found RECORD;
  v_results JSONB := '[]';
BEGIN
  FOR e IN SELECT value FROM jsonb_array_elements(p_events) LOOP
    v_tenant := e->>'tenantId';
    v_now := (e->>'now')::BIGINT;
    SELECT coalesce(definition->>'priority', 'normal') INTO v_lane
      FROM workflows WHERE tenant_id = v_tenant AND key = e->'input'->>'workflow';
    IF NOT FOUND THEN
      v_results := v_results || jsonb_build_object('ok', false, 'code', 'workflow_not_found');
      CONTINUE;
    END IF;
    v_lane := coalesce(e->'input'->>'priority', v_lane);

    v_key := e->>'idempotencyKey';
    IF v_key IS NOT NULL THEN
      -- Claims the key, or takes over one older than the window; a live key is left alone.
      INSERT INTO idempotency_keys (tenant_id, key, event_id, payload_hash, created_at)
      VALUES (v_tenant, v_key, e->>'id', e->>'payloadHash', v_now)
      ON CONFLICT (tenant_id, key) DO UPDATE
        SET event_id = excluded.event_id, payload_hash = excluded.payload_hash, created_at = excluded.created_at
        WHERE idempotency_keys.created_at <= v_now - p_window;
      IF NOT FOUND THEN
        SELECT event_id, payload_hash INTO v_found FROM idempotency_keys WHERE tenant_id = v_tenant AND key = v_key;
        IF v_found.payload_hash = e->>'payloadHash' THEN
          v_results := v_results || jsonb_build_object('ok', true, 'eventId', v_found.event_id, 'duplicate', true);
        ELSE
          v_results := v_results || jsonb_build_object(
            'ok', false, 'code', 'idempotency_key_reused', 'eventId', v_found.event_id);
        END IF;
        CONTINUE;
      END IF;
    END IF;

    INSERT INTO events (tenant_id, id, workflow, payload, priority, status, created_at)
    VALUES (v_tenant, e->>'id', e->'input'->>'workflow', e->'input', v_lane, 'accepted', v_now);

    INSERT INTO subscribers (tenant_id, id, created_at, updated_at)
    SELECT v_tenant, ids.value, v_now, v_now FROM jsonb_array_elements_text(e->'subscriberIds') AS ids
    ORDER BY ids.value
    ON CONFLICT DO NOTHING;

    -- Inline subscribers: fields present are set (null clears one), absent fields are kept.
    FOR s IN SELECT value FROM jsonb_array_elements(e->'inlineSubscribers') LOOP
      INSERT INTO subscribers AS cur (tenant_id, id, email, phone, locale, timezone, data, created_at, updated_at)
      VALUES (v_tenant, s->>'id', s->>'email', s->>'phone', s->>'locale', s->>'timezone',
              CASE WHEN jsonb_typeof(s->'data') = 'object' THEN s->'data' ELSE '{}' END, v_now, v_now)
      ON CONFLICT (tenant_id, id) DO UPDATE SET
        email = CASE WHEN s ? 'email' THEN excluded.email ELSE cur.email END,
        phone = CASE WHEN s ? 'phone' THEN excluded.phone ELSE cur.phone END,
        locale = CASE WHEN s ? 'locale' THEN excluded.locale ELSE cur.locale END,
        timezone = CASE WHEN s ? 'timezone' THEN excluded.timezone ELSE cur.timezone END,
        data = CASE WHEN s ? 'data' THEN excluded.data ELSE cur.data END,
        updated_at = excluded.updated_at;
    END LOOP;

    INSERT INTO jobs (tenant_id, kind, lane, partition_key, run_at, max_attempts, payload, created_at)
    VALUES (e->'job'->>'tenantId', e->'job'->>'kind', v_lane, e->'job'->>'partitionKey',
            coalesce((e->'job'->>'runAt')::BIGINT, v_now), coalesce((e->'job'->>'maxAttempts')::INT, 8),
            coalesce(e->'job'->'payload', 'null'), v_now);

    v_results := v_results || jsonb_build_object('ok', true, 'eventId', e->>'id', 'duplicate', false);
  END LOOP;
  RETURN v_results;
END
$$;
