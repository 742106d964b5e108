-- Resume inside a file: how far a file's rows are committed. Every record
-- before committed_records is in the database; the next starts at byte
-- committed_offset (decoded text) on line committed_line.
ALTER TABLE molecule_files
    ADD COLUMN committed_records BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN committed_offset BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN committed_line BIGINT NOT NULL DEFAULT 1;
