//! Real-world files as they come (issue #12): one synthetic reproducer per
//! class, end to end through `molingest scan --jsonl` (and one load, for
//! the reject report). The `scan` checks need no server.

mod common;

use common::*;
use serde_json::Value;
use sqlx::PgPool;
use std::io::Write;
use std::path::Path;

fn atom(serial: u32, name: &str, res: &str, tail: &str) -> String {
    format!("ATOM  {serial:>5} {name:<4} {res:>3} A   1      11.104   6.134  -6.504  1.00  0.00{tail}\n")
}

fn sdf(title: &str, atoms: &[&str], bonds: &[(usize, usize, u8)], props: &str) -> String {
    let mut t = format!(
        "{title}\n  test\n\n{:>3}{:>3}  0  0  0  0  0  0  0  0999 V2000\n",
        atoms.len(),
        bonds.len()
    );
    for a in atoms {
        t += &format!("    0.0000    0.0000    0.0000 {a:<3} 0  0  0  0  0  0  0  0  0  0  0  0\n");
    }
    for (a, b, o) in bonds {
        t += &format!("{a:>3}{b:>3}{o:>3}  0\n");
    }
    t + props + "M  END\n$$$$\n"
}

const MOL2: &str = "@<TRIPOS>MOLECULE\nwater\n 3 2 0 0 0\nSMALL\nNO_CHARGES\n\n@<TRIPOS>ATOM\n      1 O1          0.0000    0.0000    0.0000 O.3     1  HOH1        0.0000\n      2 H1          0.9572    0.0000    0.0000 H       1  HOH1        0.0000\n      3 H2         -0.2400    0.9266    0.0000 H       1  HOH1        0.0000\n@<TRIPOS>BOND\n     1     1     2    1\n     2     1     3    1\n";

fn write(dir: &Path, name: &str, bytes: impl AsRef<[u8]>) {
    std::fs::write(dir.join(name), bytes).unwrap();
}

fn library() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // 1. Legacy columns 73-80: ID code and line number, no element there.
    let legacy = [
        atom(1, " N", "ALA", "      9XYZ 105"),
        atom(2, " CA", "ALA", "      9XYZ 106"),
        atom(3, " O", "ALA", "      01234A56"),
    ]
    .concat();
    write(d, "legacy.pdb", legacy + "END\n");
    // 2. A chloride ion named `Cl` in residue `CL`; a tab-separated pseudo
    // PDB; a bad atom on line 5 after three header lines.
    write(d, "ion.pdb", atom(1, " Cl", "CL", "") + "END\n");
    write(d, "tabs.pdb", "ATOM\t  2  C  UNK\t1\t0.0\t0.0\t0.0\nEND\n");
    let numbered = format!(
        "HEADER    x\nREMARK 1\nREMARK 2\n{}ATOM      2  C   UNK A   1      1.0\tx\nEND\n",
        atom(1, " C", "UNK", "")
    );
    write(d, "numbered.pdb", numbered);
    // 3. Classic-Mac CR line ends: SDF, MOL2, SMILES.
    let three: String = ["one", "two", "three"]
        .map(|t| sdf(t, &["C", "O"], &[(1, 2, 1)], ""))
        .concat();
    write(d, "mac.sdf", three.replace('\n', "\r"));
    write(d, "mac.mol2", MOL2.replace('\n', "\r"));
    write(d, "mac.smi", "CCO ethanol\rc1ccccc1 benzene\rCC ethane\r");
    // 4. A UTF-8 byte-order mark.
    write(d, "bom.smi", "\u{feff}CCO ethanol\nCC ethane\n");
    write(d, "bom.mol2", format!("\u{feff}{MOL2}"));
    // 5. Ring bond numbers from 100 on.
    write(
        d,
        "rings.smi",
        "C%(100)CCCCC%(100) cyclohexane\nc%(12345)ccccc%(12345) benzene\n",
    );
    // 6. The MDL valence model for charged and aromatic atoms.
    let ring = [(1, 2, 4), (2, 3, 4), (3, 4, 4), (4, 5, 4), (5, 1, 4)];
    let charged = [
        sdf("thiophene", &["S", "C", "C", "C", "C"], &ring, ""),
        sdf("proton", &["H"], &[], "M  CHG  1   1   1\n"),
        sdf("n2plus", &["C", "N"], &[(1, 2, 1)], "M  CHG  1   2   2\n"),
        sdf("siplus", &["C", "Si"], &[(1, 2, 1)], "M  CHG  1   2   1\n"),
    ]
    .concat();
    write(d, "charged.sdf", charged);
    // 7. Impossible valences.
    let star: Vec<(usize, usize, u8)> = (2..=26).map(|i| (1, i, 1)).collect();
    let seven = [(1, 2, 2), (1, 3, 2), (1, 4, 2), (1, 5, 1)];
    let impossible = [
        sdf("c25", &["C"; 26], &star, ""),
        sdf("c7", &["C"; 5], &seven, ""),
    ]
    .concat();
    write(d, "impossible.sdf", impossible);
    write(d, "pentavalent.smi", "C(C)(C)(C)(C)C five\n");
    // 8. No silent zero.
    write(d, "smiles_inside.mol2", "CCO ethanol\nCC ethane\n");
    write(d, "blank.smi", "  \n\n\t\n");
    write(
        d,
        "substructure.mol2",
        "@<TRIPOS>SUBSTRUCTURE\n     1 LIG         1\n",
    );
    write(d, "comments.smi", "# nothing but a comment\nSMILES\n");
    // 9. UTF-16 text.
    let mut utf16 = vec![0xff, 0xfe];
    utf16.extend("CCO ethanol\n".encode_utf16().flat_map(u16::to_le_bytes));
    write(d, "utf16.smi", utf16);
    // 10. bzip2 and zstd, and a cut bzip2 stream.
    let text = three.clone();
    let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
    bz.write_all(text.as_bytes()).unwrap();
    let bz = bz.finish().unwrap();
    write(d, "lib.sdf.bz2", &bz);
    write(
        d,
        "lib.sdf.zst",
        zstd::stream::encode_all(text.as_bytes(), 3).unwrap(),
    );
    let big: String = (0..200_000)
        .map(|i| format!("C{} m{i}\n", "C".repeat(i % 7)))
        .collect();
    let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
    bz.write_all(big.as_bytes()).unwrap();
    let bz = bz.finish().unwrap();
    write(d, "cut.smi.bz2", &bz[..bz.len() / 2]);
    dir
}

fn of<'a>(lines: &'a [Value], path: &str) -> Vec<&'a Value> {
    lines.iter().filter(|v| v["path"] == path).collect()
}

fn formulas(lines: &[Value], path: &str) -> Vec<String> {
    of(lines, path)
        .iter()
        .map(|v| v["formula"].as_str().unwrap_or("-").to_owned())
        .collect()
}

fn file_line<'a>(lines: &'a [Value], path: &str) -> &'a Value {
    let l = of(lines, path);
    assert_eq!(l.len(), 1, "{path}: one whole-file line: {l:?}");
    assert!(l[0]["record"].is_null(), "{l:?}");
    l[0]
}

#[test]
fn every_class_of_real_world_file_is_read_or_named() {
    let dir = library();
    // A FIFO named like a molecule file, also behind a symlink: skipped, no hang.
    let fifo = dir.path().join("pipe.sdf");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    std::os::unix::fs::symlink(&fifo, dir.path().join("link.sdf")).unwrap();

    let out = molingest(None, &["scan", dir.path().to_str().unwrap(), "--jsonl"]);
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    let lines = json_lines(&out.stdout);

    // 1, 2
    assert_eq!(formulas(&lines, "legacy.pdb"), ["CNO"]);
    assert_eq!(formulas(&lines, "ion.pdb"), ["Cl"]);
    let tabs = of(&lines, "tabs.pdb");
    assert_eq!(tabs[0]["status"], "rejected");
    assert!(tabs[0]["error"].as_str().unwrap().contains("tab"));
    let numbered = of(&lines, "numbered.pdb");
    assert_eq!(
        (numbered[0]["line"].as_u64(), numbered[0]["status"].as_str()),
        (Some(5), Some("rejected")),
        "the bad atom's own line: {numbered:?}"
    );
    // 3, 4, 5
    assert_eq!(formulas(&lines, "mac.sdf"), ["CH4O"; 3]);
    assert_eq!(formulas(&lines, "mac.mol2"), ["H2O"]);
    assert_eq!(formulas(&lines, "mac.smi"), ["C2H6O", "C6H6", "C2H6"]);
    assert_eq!(formulas(&lines, "bom.smi"), ["C2H6O", "C2H6"]);
    assert_eq!(formulas(&lines, "bom.mol2"), ["H2O"]);
    assert_eq!(formulas(&lines, "rings.smi"), ["C6H12", "C6H6"]);
    // 6: RDKit's answers (checked with RDKit 2026.09 on the same blocks).
    assert_eq!(
        formulas(&lines, "charged.sdf"),
        ["C4H4S", "H", "CH5N", "CH5Si"]
    );
    // 7
    for path in ["impossible.sdf", "pentavalent.smi"] {
        let l = of(&lines, path);
        assert!(!l.is_empty());
        for v in l {
            assert_eq!(v["status"], "rejected", "{v}");
            assert!(v["error"].as_str().unwrap().contains("valence"), "{v}");
        }
    }
    // 8
    let m = of(&lines, "smiles_inside.mol2");
    assert_eq!(
        m.iter()
            .map(|v| v["format"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["smiles", "smiles"]
    );
    for path in ["blank.smi", "substructure.mol2", "comments.smi"] {
        let v = file_line(&lines, path);
        assert_eq!(v["status"], "rejected");
        assert!(v["error"].as_str().unwrap().contains("no records"), "{v}");
    }
    // 9
    for path in ["pipe.sdf", "link.sdf"] {
        let v = file_line(&lines, path);
        assert_eq!(v["status"], "skipped");
        assert!(v["error"].as_str().unwrap().contains("FIFO"), "{v}");
    }
    assert!(file_line(&lines, "utf16.smi")["error"]
        .as_str()
        .unwrap()
        .contains("UTF-16"));
    // 10
    assert_eq!(formulas(&lines, "lib.sdf.bz2"), ["CH4O"; 3]);
    assert_eq!(formulas(&lines, "lib.sdf.zst"), ["CH4O"; 3]);
    let cut = of(&lines, "cut.smi.bz2");
    assert!(cut.iter().filter(|v| v["status"] == "ok").count() > 100);
    assert!(cut
        .iter()
        .any(|v| v["record"].is_null() && v["error"].as_str().unwrap().contains("stream broken")));

    // Every file given is named: records, or one whole-file line.
    for e in std::fs::read_dir(dir.path()).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        assert!(!of(&lines, &name).is_empty(), "{name} is not named");
    }

    // A FIFO named on the command line is an error, not a hang.
    let out = molingest(None, &["scan", fifo.to_str().unwrap(), "--jsonl"]);
    assert_ne!(out.status.code(), Some(0), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("FIFO"),
        "{}",
        show(&out)
    );
}

#[sqlx::test(migrator = "molingest::db::MIGRATOR")]
async fn a_load_names_files_without_records_in_its_rejects(pool: PgPool) {
    let url = url_of(&pool);
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "ok.smi", "CCO ethanol\n");
    write(dir.path(), "blank.smi", "\n  \n");
    write(
        dir.path(),
        "substructure.mol2",
        "@<TRIPOS>SUBSTRUCTURE\n1 LIG 1\n",
    );
    let fifo = dir.path().join("pipe.sdf");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    let report = dir.path().join("../rejects-real-world.jsonl");
    let out = molingest(
        Some(&url),
        &[
            "load",
            dir.path().to_str().unwrap(),
            "--org",
            "acme",
            "--create-org",
            "--json",
            "--rejects",
            report.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["records_inserted"], 1, "{v}");
    let rejects = json_lines(&std::fs::read(&report).unwrap());
    for path in ["blank.smi", "substructure.mol2", "pipe.sdf"] {
        assert!(
            rejects
                .iter()
                .any(|r| r["path"] == path && r["record"].is_null() && r["reason"].is_string()),
            "{path}: {rejects:?}"
        );
    }
    let kept: Value = sqlx::query_scalar(
        "SELECT rejects FROM pipeline_executions ORDER BY started_at DESC LIMIT 1",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(kept.to_string().contains("substructure.mol2"), "{kept}");
    assert!(kept.to_string().contains("pipe.sdf"), "{kept}");
}
