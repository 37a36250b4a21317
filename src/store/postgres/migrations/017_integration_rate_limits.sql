-- Integration `rateLimit.perSecond` (API.md): sends beyond it wait for a slot (src/pipeline/throttle.ts).
ALTER TABLE integrations ADD COLUMN rate_limit_per_second INTEGER;
