/**
 * Reserves one send in a slot scope (RateCounterStore.reserveSendSlot), as one upsert both stores
 * run: the row holds the last window with reservations (`window_end`) and how many it has. A row
 * from an ended window starts the current one; a full window passes the send to the next one.
 * Parameters: $tenant, $scope, $current (the end of the window holding now), $limit, $window.
 */
export const RESERVE_SLOT = `INSERT INTO rate_counters AS cur (tenant_id, scope, window_end, count)
  VALUES ($tenant, $scope, $current, 1)
  ON CONFLICT (tenant_id, scope) DO UPDATE SET
    window_end = CASE WHEN cur.window_end < $current THEN $current
                      WHEN cur.count < $limit THEN cur.window_end
                      ELSE cur.window_end + $window END,
    count = CASE WHEN cur.window_end < $current THEN 1
                 WHEN cur.count < $limit THEN cur.count + 1
                 ELSE 1 END
  RETURNING window_end`;
