-- Hedged requests per route: milliseconds before the next target is started too (NULL: off).
ALTER TABLE routes ADD COLUMN hedge_after_ms INTEGER;
