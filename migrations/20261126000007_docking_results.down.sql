ALTER TABLE job_executions DROP COLUMN IF EXISTS pipeline_execution_id;
ALTER TABLE docking_jobs DROP CONSTRAINT IF EXISTS docking_jobs_org_name_key;
DROP INDEX IF EXISTS idx_job_results_org_file, idx_job_results_job_score;
ALTER TABLE job_results DROP CONSTRAINT IF EXISTS job_results_pose_key;
ALTER TABLE job_results DROP COLUMN IF EXISTS record_index, DROP COLUMN IF EXISTS file_id;
