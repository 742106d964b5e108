//! Where a load's rejects go: `--rejects FILE` (JSON lines), or
//! `--rejects-dir DIR` (the reasons and each rejected record's own text),
//! where DIR may be an object-store prefix (`s3://bucket/rejects/2026-12-07/`,
//! `gs://`, `az://`): a nightly job's rejects land beside its inputs. An
//! object-store directory is written locally first (a private temporary
//! directory) and uploaded when the run's reading is done.

use crate::error::{Error, Result};
use crate::pipeline::stats::RejectLog;
use crate::source::object::Bucket;
use std::path::{Path, PathBuf};

/// The reject report of a run, and where it is delivered.
pub(crate) struct Rejects {
    pub log: RejectLog,
    /// Where the JSON lines are written locally (for errors).
    report: PathBuf,
    upload: Option<Upload>,
}

struct Upload {
    bucket: Bucket,
    local: PathBuf,
}

impl Drop for Upload {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.local);
    }
}

/// An object-store URL rather than a local directory.
fn is_object_url(dir: &Path) -> bool {
    let s = dir.to_string_lossy();
    [
        "s3://", "s3a://", "gs://", "az://", "abfs://", "abfss://", "azure://",
    ]
    .iter()
    .any(|p| s.starts_with(p))
}

/// Open the report (checked before a run exists: a bad path is exit 2).
pub(crate) fn open(
    file: Option<&Path>,
    dir: Option<&Path>,
    quiet: bool,
    rt: &tokio::runtime::Runtime,
) -> Result<Rejects> {
    let log = RejectLog::new(file, quiet).map_err(|e| {
        Error::Usage(format!(
            "--rejects {}: {e}",
            file.unwrap_or(".".as_ref()).display()
        ))
    })?;
    let Some(dir) = dir else {
        return Ok(Rejects {
            log,
            report: file.map(Path::to_owned).unwrap_or_default(),
            upload: None,
        });
    };
    let (local, upload) = if is_object_url(dir) {
        let url = dir.to_string_lossy();
        let bucket = Bucket::open(&url, rt.handle())
            .map_err(|e| Error::Usage(format!("--rejects-dir: {e}")))?;
        let local = std::env::temp_dir().join(format!(
            "molingest-rejects-{}-{}",
            std::process::id(),
            uuid::Uuid::now_v7().simple()
        ));
        (local.clone(), Some(Upload { bucket, local }))
    } else {
        (dir.to_owned(), None)
    };
    let shown = crate::redact::text(&dir.display().to_string());
    let log = log
        .with_dir(&local)
        .map_err(|e| Error::Usage(format!("--rejects-dir {shown}: {e}")))?;
    Ok(Rejects {
        log,
        report: file
            .map(Path::to_owned)
            .unwrap_or_else(|| local.join("rejects.jsonl")),
        upload,
    })
}

impl Rejects {
    /// Flush what was written and, for an object-store directory, upload
    /// every file of it. Returns where the files went (for the notices).
    pub(crate) fn deliver(&self) -> Result<Vec<String>> {
        self.log
            .flush()
            .map_err(|e| Error::io(self.report.clone(), e))?;
        let Some(up) = &self.upload else {
            return Ok(Vec::new());
        };
        let mut written = Vec::new();
        let mut entries: Vec<_> = std::fs::read_dir(&up.local)
            .map_err(|e| Error::io(up.local.clone(), e))?
            .flatten()
            .collect();
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let name = entry.file_name().to_string_lossy().into_owned();
            let bytes = std::fs::read(entry.path()).map_err(|e| Error::io(entry.path(), e))?;
            written.push(
                up.bucket
                    .put(&name, bytes)
                    .map_err(|e| e.during("writing the rejects"))?,
            );
        }
        Ok(written)
    }
}
