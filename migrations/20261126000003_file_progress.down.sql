ALTER TABLE molecule_files
    DROP COLUMN IF EXISTS committed_records,
    DROP COLUMN IF EXISTS committed_offset,
    DROP COLUMN IF EXISTS committed_line;
