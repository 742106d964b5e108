#!/usr/bin/env python3
"""Compute RDKit's canonical isomeric SMILES for every record of the corpus.

Run from this directory (tests/data/corpus) with RDKit from PyPI:

    pip install rdkit==2026.9.1
    python3 rdkit_smiles.py > rdkit_smiles.jsonl

Each record is read the way RDKit reads it with its defaults (sanitized,
hydrogens removed): SDF blocks with MolFromMolBlock, MOL2 sections with
MolFromMol2Block, SMILES lines (the first whitespace-separated token) with
MolFromSmiles, PDB models with MolFromPDBBlock; then Chem.MolToSmiles(mol)
(canonical, isomeric). RDKit has no PDBQT reader: those records get
rdkit_smiles null and say so. Records are split as expected.jsonl splits
them (README.md) and keyed, like it, by (path, line) (PDB models matched by their number): the 1-based line the
record starts on. One JSON object per record: path, format, line,
rdkit_smiles (null when RDKit gives none) and rdkit_error (why not).
"""
import gzip
import json
import os
import sys

from rdkit import Chem, RDLogger, rdBase

RDLogger.DisableLog("rdApp.*")


def read_text(path):
    raw = open(path, "rb").read()
    if path.endswith(".gz"):
        try:
            raw = gzip.decompress(raw)
        except Exception:  # a cut stream: keep what inflates
            import zlib

            d = zlib.decompressobj(16 + zlib.MAX_WBITS)
            raw = d.decompress(raw)
    return raw.decode("utf-8", errors="replace")


def sdf_records(lines):
    start, buf = None, []
    for i, line in enumerate(lines, 1):
        if start is None:
            start = i
        buf.append(line)
        if line.startswith("$$$$"):
            yield start, "".join(buf)
            start, buf = None, []
    if buf and "".join(buf).strip():
        yield start, "".join(buf)


def mol2_records(lines):
    start, buf = None, []
    for i, line in enumerate(lines, 1):
        if line.startswith("@<TRIPOS>MOLECULE"):
            if start is not None:
                yield start, "".join(buf)
            start, buf = i, []
        if start is not None:
            buf.append(line)
    if start is not None:
        yield start, "".join(buf)


def smi_records(lines):
    for i, line in enumerate(lines, 1):
        if line.strip():
            yield i, line.split()[0]


def pdb_records(lines):
    start, buf, has_atoms = None, [], False
    for i, line in enumerate(lines, 1):
        if start is None:
            start = i
        buf.append(line)
        if line.startswith(("ATOM  ", "HETATM")):
            has_atoms = True
        if line.startswith(("ENDMDL", "END")) and not line.startswith("ENDROOT") and not line.startswith("ENDBRANCH"):
            if has_atoms:
                yield start, "".join(buf)
            start, buf, has_atoms = None, [], False
    if has_atoms:
        yield start, "".join(buf)


READERS = {
    "sdf": (sdf_records, Chem.MolFromMolBlock),
    "mol2": (mol2_records, Chem.MolFromMol2Block),
    "smi": (smi_records, Chem.MolFromSmiles),
    "pdb": (pdb_records, Chem.MolFromPDBBlock),
    "pdbqt": (pdb_records, None),
}


def main():
    wanted = {}
    for line in open("expected.jsonl"):
        e = json.loads(line)
        if e["record"] is not None:
            wanted.setdefault(e["path"], set()).add((e["line"], e["record"]))
    print(f"rdkit {rdBase.rdkitVersion}", file=sys.stderr)
    for path in sorted(wanted):
        fmt = path.split("/")[0]
        if fmt == "broken":
            name = path[: -3] if path.endswith(".gz") else path
            fmt = name.rsplit(".", 1)[1]
        split, read = READERS[fmt]
        lines = read_text(path).splitlines(keepends=True)
        blocks = list(split(lines))
        found = dict(blocks)
        for line_no, record in sorted(wanted[path]):
            out = {"path": path, "format": fmt, "line": line_no}
            block = found.get(line_no)
            if fmt in ("pdb", "pdbqt") and record < len(blocks):
                # expected.jsonl starts a model at its MODEL or first atom
                # line; this splitter at the line after the last one's end.
                block = blocks[record][1]
            smiles, error = None, None
            if block is None:
                error = "record not found by this script's splitter"
            elif read is None:
                error = "RDKit has no PDBQT reader"
            else:
                mol = read(block)
                if mol is None:
                    error = "RDKit returned no molecule"
                else:
                    smiles = Chem.MolToSmiles(mol)
            out["rdkit_smiles"] = smiles
            out["rdkit_error"] = error
            print(json.dumps(out))


if __name__ == "__main__":
    main()
