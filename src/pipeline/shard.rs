//! Splitting one source among N workers: each file belongs to one shard,
//! by a hash of its location, so N runs (N shells, a Kubernetes Indexed
//! Job, a Slurm array) together load exactly what one run would.

use crate::error::{Error, Result};

/// Shard `index` of `count` (0 ≤ index < count).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u64,
    pub count: u64,
}

impl Shard {
    /// Does the file at `uri` belong to this shard?
    pub fn owns(&self, uri: &str) -> bool {
        let h = blake3::hash(uri.as_bytes());
        let mut k = [0u8; 8];
        k.copy_from_slice(&h.as_bytes()[..8]);
        u64::from_le_bytes(k) % self.count == self.index
    }

    /// `I/N`, `auto/N` (I from `JOB_COMPLETION_INDEX`, or
    /// `SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN`) or `auto` (N from
    /// `SLURM_ARRAY_TASK_COUNT` too). A bad or missing value is a usage error.
    pub fn parse(arg: &str, env: impl Fn(&str) -> Option<String>) -> Result<Shard> {
        let usage = |why: String| Error::Usage(format!("--shard {arg}: {why}"));
        let number = |what: &str, v: &str| {
            v.trim()
                .parse::<u64>()
                .map_err(|_| usage(format!("{what} {v:?} is not a whole number")))
        };
        let (i, n) = arg.split_once('/').unwrap_or((arg, ""));
        let count = match (i, n) {
            ("auto", "") => {
                let c = env("SLURM_ARRAY_TASK_COUNT").ok_or_else(|| {
                    usage("`auto` needs SLURM_ARRAY_TASK_COUNT; give auto/N".into())
                })?;
                number("SLURM_ARRAY_TASK_COUNT", &c)?
            }
            (_, "") => return Err(usage("expected I/N, auto/N or auto".into())),
            (_, n) => number("N", n)?,
        };
        if count == 0 {
            return Err(usage("N must be at least 1".into()));
        }
        let index = if i == "auto" {
            if let Some(v) = env("JOB_COMPLETION_INDEX") {
                number("JOB_COMPLETION_INDEX", &v)?
            } else if let Some(id) = env("SLURM_ARRAY_TASK_ID") {
                let min = env("SLURM_ARRAY_TASK_MIN").unwrap_or_else(|| "0".into());
                number("SLURM_ARRAY_TASK_ID", &id)?
                    .checked_sub(number("SLURM_ARRAY_TASK_MIN", &min)?)
                    .ok_or_else(|| {
                        usage("SLURM_ARRAY_TASK_ID is below SLURM_ARRAY_TASK_MIN".into())
                    })?
            } else {
                return Err(usage(
                    "`auto` needs JOB_COMPLETION_INDEX or SLURM_ARRAY_TASK_ID".into(),
                ));
            }
        } else {
            number("I", i)?
        };
        if index >= count {
            return Err(usage(format!("I = {index} is not below N = {count}")));
        }
        Ok(Shard { index, count })
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn shards_from_arguments_and_job_environments() {
        assert_eq!(
            Shard::parse("1/3", env(&[])).unwrap(),
            Shard { index: 1, count: 3 }
        );
        assert_eq!(
            Shard::parse("auto/4", env(&[("JOB_COMPLETION_INDEX", "2")])).unwrap(),
            Shard { index: 2, count: 4 }
        );
        let slurm = [
            ("SLURM_ARRAY_TASK_ID", "7"),
            ("SLURM_ARRAY_TASK_MIN", "5"),
            ("SLURM_ARRAY_TASK_COUNT", "3"),
        ];
        assert_eq!(
            Shard::parse("auto", env(&slurm)).unwrap(),
            Shard { index: 2, count: 3 }
        );
        for bad in ["3/3", "x/2", "1/0", "1", "auto/2", "-1/2"] {
            assert!(
                matches!(Shard::parse(bad, env(&[])), Err(Error::Usage(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn every_file_has_exactly_one_shard() {
        for uri in ["file:///a.sdf", "s3://b/k/x.smi.gz", "file:///lib/z.mol2"] {
            let owners = (0..5)
                .filter(|&i| Shard { index: i, count: 5 }.owns(uri))
                .count();
            assert_eq!(owners, 1);
        }
    }
}
