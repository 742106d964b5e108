#!/usr/bin/env python3
"""Differential harness: molingest against RDKit, record by record.

    tools/rdkit-diff/rdkit_diff.py compare DIR [--molingest BIN] [--out REPORT.md]
    tools/rdkit-diff/rdkit_diff.py generate SRC_DIR OUT_DIR [--n 1000] [--seed 1]
    tools/rdkit-diff/rdkit_diff.py generate-metal SRC_DIR OUT_DIR [--n 1000]

The first run makes a venv next to this script (`.venv`, RDKit pinned to
RDKIT_PIN from PyPI) and re-runs itself in it.

compare: reads every .sdf/.mol/.mol2/.pdb/.smi (also .gz) under DIR with RDKit
and runs `molingest scan --jsonl DIR`, then reports per format how many
records both accept, formula, weight (|d| <= 0.01 + 1e-4 MW), charge, and
canonical SMILES: identical, empty in molingest (identity_error), or
DIFFERENT (the one outcome that is never acceptable). Every difference is
listed. Exit 1 when any SMILES differs or acceptance disagrees.

What RDKit is asked, per format (as molingest's README says it reads):
  sdf   MolFromMolBlock(block) (sanitized, implicit H); SMILES of the same
  mol2  MolFromMol2Block(block, sanitize, removeHs, cleanupSubstructures)
  smi   MolFromSmiles(first token)
  pdb   formula: MolFromPDBBlock(sanitize=False, removeHs=False,
        proximityBonding=False), atoms as written; charge: the same
        sanitized when RDKit can (its 4-bonded N+ from CONECT records); SMILES: MolFromPDBBlock
        (sanitize, removeHs, proximityBonding)
  pdbqt not compared (RDKit has no PDBQT reader)

generate: writes molfiles (one .sdf per source molecule and variant kind)
for the stereo-invariance check: for each stereo molecule of the SDF/SMILES
files under SRC_DIR (a molecule with stereo elements left unassigned gets
a random configuration of them), a 3D conformer (EmbedMolecule) with and without
hydrogens, and a 2D drawing with wedges, each with atoms and bonds in a
random order and non-wedge bonds written end to start at random. 3D files
carry no wedges: their stereo comes from the coordinates alone. Then run
`compare OUT_DIR`.
"""
import argparse
import gzip
import json
import os
import random
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

RDKIT_PIN = "2026.9.1"
HERE = Path(__file__).resolve().parent
VENV = HERE / ".venv"


def ensure_venv():
    py = VENV / "bin" / "python"
    if Path(sys.prefix).resolve() == VENV.resolve():
        return
    if not py.exists():
        subprocess.check_call([sys.executable, "-m", "venv", str(VENV)])
        subprocess.check_call([str(py), "-m", "pip", "install", "-q", f"rdkit=={RDKIT_PIN}"])
    os.execv(str(py), [str(py), __file__, *sys.argv[1:]])


ensure_venv()

import rdkit  # noqa: E402
from rdkit import Chem, RDLogger  # noqa: E402
from rdkit.Chem import AllChem, Descriptors  # noqa: E402
from rdkit.Chem.EnumerateStereoisomers import (  # noqa: E402
    EnumerateStereoisomers, StereoEnumerationOptions)

RDLogger.DisableLog("rdApp.*")

FORMATS = {".sdf": "sdf", ".mol": "sdf", ".sd": "sdf", ".mol2": "mol2", ".pdb": "pdb",
           ".ent": "pdb", ".pdbqt": "pdbqt", ".smi": "smi", ".smiles": "smi"}


def fmt_of(path):
    name = path.name[:-3] if path.name.endswith(".gz") else path.name
    return FORMATS.get(Path(name).suffix.lower())


def read_text(path):
    raw = path.read_bytes()
    if path.name.endswith(".gz"):
        try:
            raw = gzip.decompress(raw)
        except Exception:
            return None
    if b"\0" in raw:
        return None
    return raw.decode("utf-8", errors="replace")


def hill(mol):
    counts = Counter()
    for a in mol.GetAtoms():
        sym = "*" if a.GetAtomicNum() == 0 else a.GetSymbol()
        counts[sym] += 1
        counts["H"] += a.GetTotalNumHs()
    counts = {k: v for k, v in counts.items() if v}
    out = []
    rest = sorted(k for k in counts if k not in ("*",))
    if "C" in counts:
        rest = [k for k in rest if k not in ("C", "H")]
        out.append(("C", counts["C"]))
        if counts.get("H"):
            out.append(("H", counts["H"]))
    out += [(k, counts[k]) for k in rest]
    if counts.get("*"):
        out.append(("*", counts["*"]))
    return "".join(k + (str(n) if n > 1 else "") for k, n in out)


def weight(mol):
    return round(Descriptors.MolWt(mol), 4)


def rd_record(fmt, block):
    """(formula, mw, charge, smiles) or an error string."""
    try:
        if fmt == "sdf":
            m = Chem.MolFromMolBlock(block, removeHs=False)
            if m is None:
                return "RDKit refuses the molblock"
            s = Chem.MolFromMolBlock(block)
            smi = Chem.MolToSmiles(s) if s is not None else None
        elif fmt == "mol2":
            m = Chem.MolFromMol2Block(block, sanitize=True, removeHs=False)
            if m is None:
                return "RDKit refuses the mol2 block"
            s = Chem.MolFromMol2Block(block, sanitize=True, removeHs=True, cleanupSubstructures=True)
            smi = Chem.MolToSmiles(s) if s is not None else None
        elif fmt == "smi":
            tok = block.split()
            if not tok:
                return "blank"
            m = Chem.MolFromSmiles(tok[0])
            if m is None:
                return "RDKit refuses the SMILES"
            smi = Chem.MolToSmiles(m)
        elif fmt == "pdb":
            m = Chem.MolFromPDBBlock(block, sanitize=False, removeHs=False, proximityBonding=False)
            if m is None or m.GetNumAtoms() == 0:
                return "RDKit refuses the PDB model"
            for a in m.GetAtoms():
                a.SetNoImplicit(True)
            m.UpdatePropertyCache(strict=False)
            # The charge as the corpus reference takes it: with the N+ that
            # RDKit's PDB clean-up gives a 4-bonded N (it runs when sanitizing).
            c = Chem.MolFromPDBBlock(block, sanitize=True, removeHs=False, proximityBonding=False)
            charge = Chem.GetFormalCharge(c if c is not None else m)
            s = Chem.MolFromPDBBlock(block, sanitize=True, removeHs=True, proximityBonding=True) \
                if m.GetNumAtoms() <= 20000 else None
            smi = Chem.MolToSmiles(s) if s is not None else None
        else:
            return "not compared"
        if fmt != "pdb":
            charge = Chem.GetFormalCharge(m)
        return (hill(m), weight(m), charge, smi)
    except Exception as e:  # RDKit raising is a refusal too
        return f"RDKit raised {type(e).__name__}: {e}"


def split_records(fmt, text):
    """[(record index, 1-based line, block)] as molingest counts records."""
    lines = text.splitlines(keepends=True)
    out = []
    if fmt == "sdf":
        start, buf = 1, []
        for i, l in enumerate(lines, 1):
            buf.append(l)
            if l.startswith("$$$$"):
                out.append((start, "".join(buf)))
                buf, start = [], i + 1
        if "".join(buf).strip():
            out.append((start, "".join(buf)))
    elif fmt == "mol2":
        starts = [i for i, l in enumerate(lines) if l.startswith("@<TRIPOS>MOLECULE")]
        for k, s in enumerate(starts):
            e = starts[k + 1] if k + 1 < len(starts) else len(lines)
            out.append((s + 1, "".join(lines[s:e])))
    elif fmt == "smi":
        for i, l in enumerate(lines, 1):
            if l.strip():
                out.append((i, l))
    elif fmt in ("pdb", "pdbqt"):
        start, buf, has_atoms = 1, [], False
        for i, l in enumerate(lines, 1):
            buf.append(l)
            if l.startswith(("ATOM", "HETATM")):
                has_atoms = True
            if l.startswith(("ENDMDL", "END")) and not l.startswith("ENDROOT") \
                    and not l.startswith("ENDBRANCH"):
                if has_atoms:
                    out.append((start, "".join(buf)))
                buf, start, has_atoms = [], i + 1, False
        if has_atoms:
            out.append((start, "".join(buf)))
    return [(k, ln, b) for k, (ln, b) in enumerate(out)]


def run_molingest(binary, root):
    p = subprocess.run([binary, "scan", "--jsonl", str(root)], capture_output=True, text=True)
    rows = {}
    for line in p.stdout.splitlines():
        try:
            r = json.loads(line)
        except json.JSONDecodeError:
            continue
        if r.get("record") is None:
            continue
        # SMILES lines are matched by line (a reader may skip a header);
        # every other record by its index in the file.
        is_smi = fmt_of(Path(r["path"])) == "smi"
        key = r.get("line") if is_smi else r["record"]
        rows[(r["path"], key)] = r
    return rows


def compare(args):
    root = Path(args.dir).resolve()
    binary = args.molingest
    mi = run_molingest(binary, root)
    stats = defaultdict(Counter)
    diffs = []
    expect = []
    files = sorted(p for p in root.rglob("*") if p.is_file() and fmt_of(p))
    for path in files:
        fmt = fmt_of(path)
        if fmt == "pdbqt":
            continue
        text = read_text(path)
        if text is None:
            continue
        rel = str(path.relative_to(root))
        for rec, line, block in split_records(fmt, text):
            st = stats[fmt]
            st["records"] += 1
            rd = rd_record(fmt, block)
            key = {"path": rel, "record": rec, "line": line}
            if isinstance(rd, tuple):
                expect.append({**key, "rdkit": "ok", "formula": rd[0], "mw": rd[1],
                               "charge": rd[2], "smiles": rd[3]})
            else:
                expect.append({**key, "rdkit": "refused", "reason": rd})
            m = mi.get((rel, line if fmt == "smi" else rec))
            m_ok = m is not None and m.get("status") == "ok"
            rd_ok = isinstance(rd, tuple)
            where = f"{rel}:{line}"
            if rd_ok and m_ok:
                st["both read"] += 1
            elif rd_ok:
                st["RDKit only"] += 1
                diffs.append((fmt, "accept", where, "RDKit reads it; molingest: "
                              + (m.get("error") if m else "no record line")))
                continue
            elif m_ok:
                st["molingest only"] += 1
                diffs.append((fmt, "accept", where, f"molingest reads it ({m.get('formula')}); {rd}"))
                continue
            else:
                st["both refuse"] += 1
                continue
            formula, mw, charge, smi = rd
            if m["formula"] == formula:
                st["formula ="] += 1
            else:
                diffs.append((fmt, "formula", where, f"RDKit {formula}, molingest {m['formula']}"))
            if m["mw"] is not None and abs(m["mw"] - mw) <= 0.01 + 1e-4 * mw:
                st["mw ="] += 1
            else:
                diffs.append((fmt, "mw", where, f"RDKit {mw}, molingest {m['mw']}"))
            if m["charge"] == charge:
                st["charge ="] += 1
            else:
                diffs.append((fmt, "charge", where, f"RDKit {charge}, molingest {m['charge']}"))
            ms = m.get("smiles")
            if smi is None:
                st["SMILES: RDKit none"] += 1
                if ms:
                    diffs.append((fmt, "SMILES", where, f"RDKit none, molingest {ms}"))
            elif ms == smi:
                st["SMILES ="] += 1
            elif not ms:
                st["SMILES empty"] += 1
                diffs.append((fmt, "SMILES empty", where,
                              f"RDKit {smi}; identity_error: {m.get('identity_error')}"))
            else:
                st["SMILES DIFFERENT"] += 1
                diffs.append((fmt, "SMILES DIFFERENT", where, f"RDKit {smi}, molingest {ms}"))
    cols = ["records", "both read", "RDKit only", "molingest only", "both refuse", "formula =",
            "mw =", "charge =", "SMILES =", "SMILES empty", "SMILES DIFFERENT"]
    out = [f"RDKit {rdkit.__version__}, `{root.name}`", "",
           "| format | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for fmt in sorted(stats):
        out.append(f"| {fmt} | " + " | ".join(str(stats[fmt][c]) for c in cols) + " |")
    out.append("")
    for d in diffs:
        out.append("- " + " | ".join(d))
    report = "\n".join(out) + "\n"
    if args.out:
        Path(args.out).write_text(report)
        print("\n".join(out[:len(stats) + 4]))
        print(f"{len(diffs)} differences, listed in {args.out}")
    else:
        print(report)
    if args.expect_out:
        with open(args.expect_out, "w") as f:
            f.write(json.dumps({"rdkit_version": rdkit.__version__}) + "\n")
            for e in expect:
                f.write(json.dumps(e) + "\n")
    bad = any(d[1] in ("accept", "SMILES DIFFERENT") for d in diffs)
    return 1 if bad else 0


# ---- generator -------------------------------------------------------------

def molblock(mol, conf, order, bonds, wedges, title):
    """A V2000 molfile of mol: atoms in `order`, bonds as (i, j, type, stereo)
    in the given order and direction (indices of mol)."""
    pos = {old: new + 1 for new, old in enumerate(order)}
    out = [title, "  rdkit-diff", ""]
    out.append(f"{len(order):>3}{len(bonds):>3}  0  0  0  0  0  0  0  0999 V2000")
    chg, iso, rad = [], [], []
    for old in order:
        a = mol.GetAtomWithIdx(old)
        p = conf.GetAtomPosition(old)
        sym = a.GetSymbol() if a.GetAtomicNum() else "*"
        out.append(f"{p.x:>10.4f}{p.y:>10.4f}{p.z:>10.4f} {sym:<3} 0  0  0  0  0  0  0  0  0  0  0  0")
        if a.GetFormalCharge():
            chg.append((pos[old], a.GetFormalCharge()))
        if a.GetIsotope():
            iso.append((pos[old], a.GetIsotope()))
        if a.GetNumRadicalElectrons():
            rad.append((pos[old], a.GetNumRadicalElectrons() + 1))
    for i, j, t, s in bonds:
        out.append(f"{pos[i]:>3}{pos[j]:>3}{t:>3}{s:>3}")
    for tag, items in (("CHG", chg), ("ISO", iso), ("RAD", rad)):
        for k in range(0, len(items), 8):
            part = items[k:k + 8]
            out.append(f"M  {tag}{len(part):>3}" + "".join(f"{a:>4}{v:>4}" for a, v in part))
    out.append("M  END")
    return "\n".join(out) + "\n$$$$\n"


BOND_TYPE = {Chem.BondType.SINGLE: 1, Chem.BondType.DOUBLE: 2, Chem.BondType.TRIPLE: 3,
             Chem.BondType.AROMATIC: 4}


def variant(mol, conf, rng, wedge, title):
    n = mol.GetNumAtoms()
    order = list(range(n))
    rng.shuffle(order)
    bonds = []
    for b in mol.GetBonds():
        i, j = b.GetBeginAtomIdx(), b.GetEndAtomIdx()
        t = BOND_TYPE.get(b.GetBondType())
        if t is None:
            return None
        s = 0
        if wedge and b.GetBondDir() == Chem.BondDir.BEGINWEDGE:
            s = 1
        elif wedge and b.GetBondDir() == Chem.BondDir.BEGINDASH:
            s = 6
        elif wedge and b.GetBondDir() == Chem.BondDir.UNKNOWN:
            s = 4
        if s == 0 and rng.random() < 0.5:
            i, j = j, i
        bonds.append((i, j, t, s))
    rng.shuffle(bonds)
    return molblock(mol, conf, order, bonds, wedge, title)


def has_stereo(m):
    si = Chem.FindPotentialStereo(m)
    return any(x.specified == Chem.StereoSpecified.Specified for x in si)


def sources(src):
    for path in sorted(Path(src).rglob("*")):
        fmt = fmt_of(path)
        if fmt not in ("sdf", "smi"):
            continue
        text = read_text(path)
        if text is None:
            continue
        for _, _, block in split_records(fmt, text):
            m = Chem.MolFromMolBlock(block) if fmt == "sdf" else \
                Chem.MolFromSmiles(block.split()[0]) if block.split() else None
            if m is not None:
                yield m


def generate(args):
    rng = random.Random(args.seed)
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = {k: open(out / f"gen_{k}.sdf", "w") for k in ("3d_h", "3d_noh", "2d_wedge")}
    seen, made = set(), 0
    for m in sources(args.src):
        if made >= args.n:
            break
        if m.GetNumAtoms() > 80:
            continue
        if not has_stereo(m):
            # Give an unassigned stereo element a random configuration.
            opts = StereoEnumerationOptions(onlyUnassigned=True, maxIsomers=1,
                                            rand=rng.randrange(1 << 30))
            isomers = list(EnumerateStereoisomers(m, options=opts))
            if not isomers or not has_stereo(isomers[0]):
                continue
            m = isomers[0]
        m = Chem.Mol(m)
        Chem.Kekulize(m, clearAromaticFlags=True)
        key = Chem.MolToSmiles(m)
        if key in seen:
            continue
        seen.add(key)
        mh = Chem.AddHs(m)
        if AllChem.EmbedMolecule(mh, randomSeed=rng.randrange(1 << 30), maxAttempts=5) != 0:
            continue
        Chem.AssignStereochemistryFrom3D(mh)
        noh = Chem.RemoveHs(mh, sanitize=False)
        m2 = Chem.Mol(m)
        AllChem.Compute2DCoords(m2)
        Chem.WedgeMolBonds(m2, m2.GetConformer())
        name = f"gen{made}"
        for kind, mol, wedge in (("3d_h", mh, False), ("3d_noh", noh, False), ("2d_wedge", m2, True)):
            block = variant(mol, mol.GetConformer(), rng, wedge, name)
            if block:
                files[kind].write(block)
        made += 1
    for f in files.values():
        f.close()
    print(f"{made} stereo molecules, 3 variants each, in {out}")
    return 0


METALS = ["Fe", "Pd", "Pt", "Cu", "Zn", "Ru", "Ni", "Co", "Ti", "Rh", "Ir", "Mn", "Ag", "Au", "Hg", "Sn"]


def generate_metal(args):
    """Bonds to metals and RDKit's clean-up cases: for molecules of SRC, a
    metal bonded by a single bond to one of their heteroatoms or carbons
    (a carbonyl O, a pyridine N, a chloride bridging two metals: what
    cleanUpOrganometallics turns dative), aromatic N-oxides written
    n(=O), and halogen oxides written with double bonds. Written as
    SMILES (`gen_metal.smi`) and as molfiles of the same graphs, Kekulé,
    not sanitized (`gen_metal.sdf`)."""
    rng = random.Random(args.seed)
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    smiles = []
    for x in ("Cl", "Br", "I"):
        for k in range(0, 4):
            smiles.append(f"O{x}" + "(=O)" * k)
            smiles.append(f"[O-]{x}" + "(=O)" * k)
    smiles += ["c1ccn(=O)cc1", "Cc1ccc[n](=O)c1", "CN=N#N", "O=N(=O)c1ccccc1",
               "C=P(C)(C)=O", "CC=P(=O)C", "[Pd][Cl][Pd]", "Cl[Pt]([Cl][Pt](Cl)Cl)Cl",
               "[Fe][H-][Ni+2]", "C1=CC=C[C-]1[Fe+2][C-]1C=CC=C1"]
    mols = [m for m in sources(args.src) if m.GetNumAtoms() <= 40]
    rng.shuffle(mols)
    for m in mols:
        if len(smiles) >= args.n:
            break
        rw = Chem.RWMol(m)
        Chem.Kekulize(rw, clearAromaticFlags=True)
        cands = [a.GetIdx() for a in rw.GetAtoms() if a.GetAtomicNum() in (6, 7, 8, 16, 17)]
        if not cands:
            continue
        k = rng.choice(cands)
        for _ in range(rng.choice((1, 1, 2))):
            mi = rw.AddAtom(Chem.Atom(rng.choice(METALS)))
            rw.AddBond(k, mi, Chem.BondType.SINGLE)
        if rng.random() < 0.3:
            # a pyridine-like N written as an N-oxide with a double bond
            ns = [a.GetIdx() for a in rw.GetAtoms() if a.GetAtomicNum() == 7
                  and a.GetDegree() == 2 and a.GetNumExplicitHs() == 0
                  and m.GetAtomWithIdx(a.GetIdx()).GetTotalNumHs() == 0]
            if ns:
                o = rw.AddAtom(Chem.Atom(8))
                rw.AddBond(rng.choice(ns), o, Chem.BondType.DOUBLE)
        try:
            smi = Chem.MolToSmiles(rw, kekuleSmiles=True, canonical=False)
        except Exception:
            continue
        smiles.append(smi)
    with open(out / "gen_metal.smi", "w") as f:
        for i, smi in enumerate(smiles):
            f.write(f"{smi} gm{i}\n")
    with open(out / "gen_metal.sdf", "w") as f:
        for i, smi in enumerate(smiles):
            m = Chem.MolFromSmiles(smi, sanitize=False)
            if m is None:
                continue
            m.UpdatePropertyCache(strict=False)
            try:
                Chem.Kekulize(m, clearAromaticFlags=True)
            except Exception:
                pass
            m.SetProp("_Name", f"gm{i}")
            f.write(Chem.MolToMolBlock(m, kekulize=False) + "$$$$\n")
    print(f"{len(smiles)} molecules in {out}")
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("compare")
    c.add_argument("dir")
    c.add_argument("--molingest", default=os.environ.get("MOLINGEST", "molingest"))
    c.add_argument("--out")
    c.add_argument("--expect-out", help="write RDKit's answer per record as JSON lines "
                   "(the reference of tests/rdkit_diff_cases.rs)")
    g = sub.add_parser("generate")
    g.add_argument("src")
    g.add_argument("out_dir")
    g.add_argument("--n", type=int, default=1000)
    g.add_argument("--seed", type=int, default=1)
    g = sub.add_parser("generate-metal")
    g.add_argument("src")
    g.add_argument("out_dir")
    g.add_argument("--n", type=int, default=1000)
    g.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    run = {"compare": compare, "generate": generate, "generate-metal": generate_metal}[a.cmd]
    sys.exit(run(a))


if __name__ == "__main__":
    main()
