-- What media requests count besides tokens: audio transcribed (milliseconds) and images made.
ALTER TABLE request_log ADD COLUMN audio_ms INTEGER;
ALTER TABLE request_log ADD COLUMN images INTEGER;
