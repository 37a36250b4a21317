-- tidings_accept as in 037_accept_answers_lanes.sql, but an inline subscriber's data may arrive as
-- its JSON text (a JSONB string), kept so: JSONB orders an object's keys its own way (shorter keys
-- first), and a subscriber's data is read back with its keys as sent (src/store/postgres/ordered-json.ts).
CREATE OR REPLACE FUNCTION tidings_accept(p_events JSONB, p_window BIGINT, p_per_job INT, p_max_attempts INT) RETURNS JSONB LANGUAGE plpgsql AS $$
DECLARE
  v_count INT := jsonb_array_length(p_events);
  v_lanes TEXT[];
  v_versions INT[];
  v_owned TEXT[];
  v_accepted BOOLEAN[];
  v_inline RECORD;
  v_results JSONB;
BEGIN
  -- The lane of each event (its priority, else its workflow's); NULL when the workflow is unknown.
  SELECT array_agg(CASE WHEN w.key IS NULL THEN NULL
                        ELSE coalesce(b.e->'input'->>'priority', w.definition->>'priority', 'normal') END
                   ORDER BY b.ord),
         array_agg(w.version ORDER BY b.ord)
    INTO v_lanes, v_versions
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

  INSERT INTO events (tenant_id, id, workflow, payload, priority, status, created_at, workflow_version)
  SELECT b.e->>'tenantId', b.e->>'id', b.e->'input'->>'workflow', b.e->'input', v_lanes[b.ord], 'accepted',
         (b.e->>'now')::BIGINT, v_versions[b.ord]
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
    INSERT INTO subscribers AS cur (tenant_id, id, email, phone, email_hash, phone_hash, locale, timezone, data,
                                    created_at, updated_at)
    VALUES (v_inline.tenant_id, v_inline.s->>'id', v_inline.s->>'email', v_inline.s->>'phone',
            v_inline.s->>'emailHash', v_inline.s->>'phoneHash', v_inline.s->>'locale', v_inline.s->>'timezone',
            CASE WHEN jsonb_typeof(v_inline.s->'data') IN ('object', 'string') THEN v_inline.s->'data' ELSE '{}' END,
            v_inline.now, v_inline.now)
    ON CONFLICT (tenant_id, id) DO UPDATE SET
      email = CASE WHEN NOT v_inline.s ? 'email' THEN cur.email
                   WHEN cur.email_hash = excluded.email_hash AND cur.email LIKE 'pd1.%' THEN cur.email
                   ELSE excluded.email END,
      phone = CASE WHEN NOT v_inline.s ? 'phone' THEN cur.phone
                   WHEN cur.phone_hash = excluded.phone_hash AND cur.phone LIKE 'pd1.%' THEN cur.phone
                   ELSE excluded.phone END,
      email_hash = CASE WHEN v_inline.s ? 'email' THEN excluded.email_hash ELSE cur.email_hash END,
      phone_hash = CASE WHEN v_inline.s ? 'phone' THEN excluded.phone_hash ELSE cur.phone_hash END,
      locale = CASE WHEN v_inline.s ? 'locale' THEN excluded.locale ELSE cur.locale END,
      timezone = CASE WHEN v_inline.s ? 'timezone' THEN excluded.timezone ELSE cur.timezone END,
      data = CASE WHEN v_inline.s ? 'data' THEN excluded.data ELSE cur.data END,
      updated_at = excluded.updated_at
    -- A row the entry would leave as it is is not written (nor its updated_at moved).
    WHERE (v_inline.s ? 'email' AND (cur.email_hash IS DISTINCT FROM excluded.email_hash
                                      OR coalesce(cur.email NOT LIKE 'pd1.%', false)))
       OR (v_inline.s ? 'phone' AND (cur.phone_hash IS DISTINCT FROM excluded.phone_hash
                                      OR coalesce(cur.phone NOT LIKE 'pd1.%', false)))
       OR (v_inline.s ? 'locale' AND cur.locale IS DISTINCT FROM excluded.locale)
       OR (v_inline.s ? 'timezone' AND cur.timezone IS DISTINCT FROM excluded.timezone)
       OR (v_inline.s ? 'data' AND cur.data IS DISTINCT FROM excluded.data);
  END LOOP;

  -- First jobs: accepted events that share tenant, kind, lane and run time are queued together,
  -- p_per_job per job, each with p_max_attempts, payload {"eventIds": [...]} in batch order (see
  -- AcceptEvent.job). A null runAt (at once) groups with the other nulls and runs at acceptance.
  INSERT INTO jobs (tenant_id, kind, lane, run_at, max_attempts, payload, created_at)
  SELECT tenant_id, kind, lane, coalesce(run_at, min(now)), p_max_attempts,
         jsonb_build_object('eventIds', jsonb_agg(id ORDER BY ord)), min(now)
    FROM (SELECT b.e->>'tenantId' AS tenant_id, b.e->'job'->>'kind' AS kind, v_lanes[b.ord] AS lane,
                 (b.e->'job'->>'runAt')::BIGINT AS run_at, b.e->>'id' AS id, b.ord,
                 (b.e->>'now')::BIGINT AS now,
                 (row_number() OVER (PARTITION BY b.e->>'tenantId', b.e->'job'->>'kind', v_lanes[b.ord],
                                                  b.e->'job'->>'runAt' ORDER BY b.ord) - 1) / p_per_job AS chunk
            FROM jsonb_array_elements(p_events) WITH ORDINALITY AS b(e, ord)
           WHERE v_accepted[b.ord]) AS accepted
   GROUP BY tenant_id, kind, lane, run_at, chunk
   ORDER BY min(ord);

  SELECT coalesce(jsonb_agg(
           CASE
             WHEN v_lanes[b.ord] IS NULL THEN jsonb_build_object('ok', false, 'code', 'workflow_not_found')
             WHEN v_accepted[b.ord] THEN jsonb_build_object('ok', true, 'eventId', b.e->>'id', 'duplicate', false,
                                                      'lane', v_lanes[b.ord])
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
