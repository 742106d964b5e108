-- Docking results where the design keeps them: a load with --docking-job
-- records the job (reused by name), the run as a job execution, and one
-- job_results row per pose occurrence — per file and record, so that
-- re-running adds no duplicate, even when two poses are the same molecule.
ALTER TABLE job_results
    ADD COLUMN file_id UUID,
    ADD COLUMN record_index BIGINT,
    ADD CONSTRAINT job_results_pose_key UNIQUE (organization_id, job_id, file_id, record_index),
    ADD FOREIGN KEY (organization_id, file_id) REFERENCES molecule_files (organization_id, id);
CREATE INDEX idx_job_results_org_file ON job_results (organization_id, file_id);
CREATE INDEX idx_job_results_job_score ON job_results (organization_id, job_id, score);
ALTER TABLE docking_jobs ADD CONSTRAINT docking_jobs_org_name_key UNIQUE (organization_id, name);
ALTER TABLE job_executions ADD COLUMN pipeline_execution_id UUID;
