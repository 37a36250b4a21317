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
  v_ids BIGINT[];
  v_row RECORD;
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
      v_ids := '{}';
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
          v_ids := v_ids || v_row.id;
          v_got := v_got + 1;
        END LOOP;
        v_taken := v_taken + v_got;
      END LOOP;
      -- One UPDATE per pass: the second pass then sees the first one's jobs as leased.
      RETURN QUERY
        WITH leased AS (
          UPDATE jobs SET state = 'leased', lease_owner = p_owner, lease_until = p_until, attempts = attempts + 1
           WHERE id = ANY (v_ids)
          RETURNING *)
        SELECT * FROM leased ORDER BY run_at, id;
    END LOOP;
  END LOOP;
END
$$;

-- Accepts a batch of validated events (see AcceptEvent in src/store/port.ts, serialised by
-- src/store/postgres/events.ts) in one call, set-based: a handful of statements per batch, not
-- per event. Answers one result object per event, in batch order. Idempotency keys are claimed
-- in (tenant, key) order, so two batches sharing keys cannot deadlock; within a batch the first
-- event with a key claims it and later ones are answered from it.
CREATE FUNCTION tidings_accept(p_events JSONB, p_window BIGINT) RETURNS JSONB LANGUAGE plpgsql AS $$
DECLARE
  v_count INT := jsonb_array_length(p_events);
  v_lanes TEXT[];
  v_owned TEXT[];
  v_accepted BOOLEAN[];
  v_inline RECORD;
  v_results JSONB;
BEGIN
  -- The lane of each event (its priority, else its workflow's); NULL when the workflow is unknown.
  SELECT array_agg(CASE WHEN w.key IS NULL THEN NULL
                        ELSE coalesce(b.e->'input'->>'priority', w.definition->>'priority', 'normal') END
                   ORDER BY b.ord)
    INTO v_lanes
    FROM jsonb_array_elements(p_events) WITH ORDINALITY AS b(e, ord)
    LEFT JOIN workflows w ON w.tenant_id = b.e->>'tenantId' AND w.key = b.e->'input'->>'workflow';

  -- Claim each key once, or take over one older than the window; a live key is left alone.
  WITH claimed AS (
    INSERT INTO idempotency_keys AS cur (tenant_id, key, event_id, payload_hash, created_at)
    SELECT tenant_id, key, event_id, payload_hash, created_at FROM (
      SELECT DISTINCT ON (b.e->>'tenantId', b.e->>'idempotencyKey')
             b.e->>'tenantId' AS tenant_id, b.e->>'idempotencyKey' AS key, b.e->>'id' AS event_id,
             b.e->>'payloadHash' AS payload_hash, (b.e->>'now')::BIGINT AS created_at
        FROM jsonb_array_elements(p_events) WITH ORDINALITY AS b(e, ord)
       WHERE b.e->>'idempotencyKey' IS NOT NULL AND v_lanes[b.ord] IS NOT NULL
       ORDER BY b.e->>'tenantId', b.e->>'idempotencyKey', b.ord) AS firsts
    ORDER BY tenant_id, key
    ON CONFLICT (tenant_id, key) DO UPDATE
      SET event_id = excluded.event_id, payload_hash = excluded.payload_hash, created_at = excluded.created_at
      WHERE cur.created_at <= excluded.created_at - p_window
    RETURNING event_id)
  SELECT coalesce(array_agg(event_id), '{}') INTO v_owned FROM claimed;

  SELECT array_agg(v_lanes[b.ord] IS NOT NULL AND (b.e->>'idempotencyKey' IS NULL OR o.id IS NOT NULL)
                   ORDER BY b.ord)
    INTO v_accepted
    FROM jsonb_array_elements(p_events) WITH ORDINALITY AS b(e, ord)
    LEFT JOIN unnest(v_owned) AS o(id) ON o.id = b.e->>'id';

  INSERT INTO events (tenant_id, id, workflow, payload, priority, status, created_at)
  SELECT b.e->>'tenantId', b.e->>'id', b.e->'input'->>'workflow', b.e->'input', v_lanes[b.ord], 'accepted',
         (b.e->>'now')::BIGINT
    FROM jsonb_array_elements(p_events) WITH ORDINALITY AS b(e, ord)
   WHERE v_accepted[b.ord];

  -- Plain recipient ids: unknown ones are created empty, so in-app delivery works at once.
  INSERT INTO subscribers (tenant_id, id, created_at, updated_at)
  SELECT DISTINCT b.e->>'tenantId', ids.value, (b.e->>'now')::BIGINT, (b.e->>'now')::BIGINT
    FROM jsonb_array_elements(p_events) WITH ORDINALITY AS b(e, ord)
   CROSS JOIN jsonb_array_elements_text(b.e->'subscriberIds') AS ids
   WHERE v_accepted[b.ord]
   ORDER BY 1, 2
  ON CONFLICT DO NOTHING;

  -- Inline subscribers (rare in bulk): fields present are set (null clears one), absent ones kept.
  FOR v_inline IN
    SELECT b.e->>'tenantId' AS tenant_id, (b.e->>'now')::BIGINT AS now, s.value AS s
      FROM jsonb_array_elements(p_events) WITH ORDINALITY AS b(e, ord)
     CROSS JOIN jsonb_array_elements(b.e->'inlineSubscribers') AS s
     WHERE v_accepted[b.ord]
     ORDER BY b.ord
  LOOP
    INSERT INTO subscribers AS cur (tenant_id, id, email, phone, locale, timezone, data, created_at, updated_at)
    VALUES (v_inline.tenant_id, v_inline.s->>'id', v_inline.s->>'email', v_inline.s->>'phone',
            v_inline.s->>'locale', v_inline.s->>'timezone',
            CASE WHEN jsonb_typeof(v_inline.s->'data') = 'object' THEN v_inline.s->'data' ELSE '{}' END,
            v_inline.now, v_inline.now)
    ON CONFLICT (tenant_id, id) DO UPDATE SET
      email = CASE WHEN v_inline.s ? 'email' THEN excluded.email ELSE cur.email END,
      phone = CASE WHEN v_inline.s ? 'phone' THEN excluded.phone ELSE cur.phone END,
      locale = CASE WHEN v_inline.s ? 'locale' THEN excluded.locale ELSE cur.locale END,
      timezone = CASE WHEN v_inline.s ? 'timezone' THEN excluded.timezone ELSE cur.timezone END,
      data = CASE WHEN v_inline.s ? 'data' THEN excluded.data ELSE cur.data END,
      updated_at = excluded.updated_at;
  END LOOP;

  INSERT INTO jobs (tenant_id, kind, lane, partition_key, run_at, max_attempts, payload, created_at)
  SELECT b.e->'job'->>'tenantId', b.e->'job'->>'kind', v_lanes[b.ord], b.e->'job'->>'partitionKey',
         coalesce((b.e->'job'->>'runAt')::BIGINT, (b.e->>'now')::BIGINT),
         coalesce((b.e->'job'->>'maxAttempts')::INT, 8), coalesce(b.e->'job'->'payload', 'null'),
         (b.e->>'now')::BIGINT
    FROM jsonb_array_elements(p_events) WITH ORDINALITY AS b(e, ord)
   WHERE v_accepted[b.ord]
   ORDER BY b.ord;

  SELECT coalesce(jsonb_agg(
           CASE
             WHEN v_lanes[b.ord] IS NULL THEN jsonb_build_object('ok', false, 'code', 'workflow_not_found')
             WHEN v_accepted[b.ord] THEN jsonb_build_object('ok', true, 'eventId', b.e->>'id', 'duplicate', false)
             -- Only the events not accepted look up the key that answered them.
             ELSE (SELECT CASE WHEN k.payload_hash = b.e->>'payloadHash'
                            THEN jsonb_build_object('ok', true, 'eventId', k.event_id, 'duplicate', true)
                            ELSE jsonb_build_object('ok', false, 'code', 'idempotency_key_reused', 'eventId', k.event_id)
                          END
                     FROM idempotency_keys k
                    WHERE k.tenant_id = b.e->>'tenantId' AND k.key = b.e->>'idempotencyKey')
           END ORDER BY b.ord), '[]')
    INTO v_results
    FROM jsonb_array_elements(p_events) WITH ORDINALITY AS b(e, ord);
  IF jsonb_array_length(v_results) <> v_count THEN
    RAISE EXCEPTION 'tidings_accept: % results for % events', jsonb_array_length(v_results), v_count;
  END IF;
  RETURN v_results;
END
$$;
