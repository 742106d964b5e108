//! Docking scores from a pose's data fields, as the docking programs write
//! them: AutoDock Vina / QVina PDBQT (`REMARK VINA RESULT`, read by the PDB
//! reader into `vina_*` fields), smina / gnina SDF (`minimizedAffinity`,
//! `CNNscore`, `CNNaffinity`), GOLD (`Gold.*`) and Vina converted by Open
//! Babel (an SDF item `REMARK` holding `VINA RESULT: …`).

use serde_json::{Map, Number, Value};

/// One pose's scores: the primary affinity, and every score as a number.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Pose {
    pub score: Option<f64>,
    pub data: Map<String, Value>,
}

/// The primary score, first found: Vina's affinity, smina/gnina's
/// minimized affinity, a GOLD fitness, a generic docking score.
const PRIMARY: &[&str] = &[
    "vina_affinity",
    "minimizedAffinity",
    "Gold.PLP.Fitness",
    "Gold.Goldscore.Fitness",
    "Gold.Chemscore.Fitness",
    "Gold.ASP.Fitness",
    "r_i_docking_score",
    "docking_score",
    "score",
];

fn number(text: &str) -> Option<f64> {
    text.trim().parse::<f64>().ok().filter(|v| v.is_finite())
}

fn is_score_field(key: &str) -> bool {
    key.starts_with("vina_")
        || key.starts_with("Gold.")
        || key.starts_with("CNN")
        || key.starts_with("minimized")
        || key == "pose_rank"
        || PRIMARY.contains(&key)
}

/// The scores of a pose from its data fields.
pub fn pose(fields: &[(String, String)]) -> Pose {
    let mut data = Map::new();
    let mut put = |k: &str, v: f64| {
        if let Some(n) = Number::from_f64(v) {
            data.insert(k.to_owned(), Value::Number(n));
        }
    };
    for (k, v) in fields {
        if is_score_field(k) {
            if let Some(x) = number(v) {
                put(k, x);
            }
        } else if k == "REMARK" || k == "minimizedAffinity_remark" {
            // Open Babel: "VINA RESULT:    -9.1      0.000      0.000"
            if let Some(rest) = v.split("VINA RESULT:").nth(1) {
                let nums: Vec<f64> = rest.split_whitespace().filter_map(number).collect();
                for (name, x) in ["vina_affinity", "vina_rmsd_lb", "vina_rmsd_ub"]
                    .iter()
                    .zip(nums)
                {
                    put(name, x);
                }
            }
        }
    }
    let score = PRIMARY
        .iter()
        .find_map(|k| data.get(*k).and_then(Value::as_f64));
    Pose { score, data }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn scores_of_each_program() {
        let p = pose(&f(&[
            ("vina_affinity", "-9.1"),
            ("vina_rmsd_lb", "0.000"),
            ("pose_rank", "1"),
        ]));
        assert_eq!(p.score, Some(-9.1));
        assert_eq!(p.data["pose_rank"], 1.0);
        let p = pose(&f(&[
            ("minimizedAffinity", "-7.52"),
            ("CNNscore", "0.81"),
            ("name", "x"),
        ]));
        assert_eq!(p.score, Some(-7.52));
        assert_eq!(p.data.len(), 2, "{:?}", p.data);
        let p = pose(&f(&[
            ("Gold.PLP.Fitness", "71.23"),
            ("Gold.PLP.Chemscore.Hbond", "2.0"),
        ]));
        assert_eq!(p.score, Some(71.23));
        let p = pose(&f(&[("REMARK", " VINA RESULT:    -8.4      1.2      2.5")]));
        assert_eq!(p.score, Some(-8.4));
        assert_eq!(p.data["vina_rmsd_ub"], 2.5);
        let p = pose(&f(&[("comment", "no score here")]));
        assert_eq!(p, Pose::default());
    }
}
