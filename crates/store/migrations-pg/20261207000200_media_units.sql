-- What media requests count besides tokens: audio transcribed (milliseconds) and images made.
ALTER TABLE request_log ADD COLUMN audio_ms BIGINT;
ALTER TABLE request_log ADD COLUMN images BIGINT;
