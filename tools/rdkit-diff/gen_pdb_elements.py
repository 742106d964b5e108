"""Write tests/data/rdkit_pdb_elements.tsv: how RDKit reads the element and
charge of one PDB ATOM/HETATM line (name columns 13-16, element columns
77-78, charge 79-80). Run with the venv of rdkit_diff.py:
    .venv/bin/python gen_pdb_elements.py > ../../tests/data/rdkit_pdb_elements.tsv
"""
import itertools
import rdkit
from rdkit import Chem, RDLogger

RDLogger.DisableLog("rdApp.*")
NAMES = ["CL  ", "Cl  ", " CL ", " Cl ", "CA  ", " CA ", "FE  ", "Fe  ", " FE ",
         "NA  ", " NA ", "HG21", "1HB ", "ZN  ", " ZN ", "BR  ", "Br  ", "Br1 ",
         "C1  ", "CX1 ", "MG  ", "SE  ", " SE ", "OXT ", "XX  ", " X  ", " D  ",
         "DA  ", " Q1 ", "K   ", " K  ", "c1  ", " C1 ", " N  ", "HE  ", " HE ",
         "HO  ", "2H  ", "AU  ", " Au ", "UNK "]
ELEMENTS = ["", "  ", " C", "C ", "CL", "Cl", "cl", " c", "Nx", "X ", "1N", "ZN", " D"]
CHARGES = ["", "1+", "1-", "+1", "-1", "+", "-", "++", "--", " 1", "2 ", "56", "0 "]
print(f"# RDKit {rdkit.__version__}: MolFromPDBBlock(line + '\\nEND\\n', sanitize=False,"
      " removeHs=False, proximityBonding=False)")
print("# record\tname\tresidue\telement cols 77-78\tcharge cols 79-80\tresult "
      "(symbol[isotope] charge, ERR, or SKIP)")
for rec, name, res, el, ch in itertools.product(
        ["ATOM", "HETATM"], NAMES, ["UNL", "CL ", "DUM"], ELEMENTS, CHARGES):
    if el == "" and ch != "":
        continue
    if el not in ("", " C", "CL") and ch not in ("", "1+"):
        continue
    if res == "DUM" and (el, ch) != ("", ""):
        continue
    line = f"{rec:<6}{1:>5} {name} {res:>3} A   1      10.000  10.000  10.000  1.00  0.00          {el}{ch}"
    if el == "":
        line = line.rstrip()
    m = Chem.MolFromPDBBlock(line + "\nEND\n", sanitize=False, removeHs=False,
                             proximityBonding=False)
    if m is None:
        out = "ERR"
    elif m.GetNumAtoms() == 0:
        out = "SKIP"
    else:
        a = m.GetAtomWithIdx(0)
        out = f"{a.GetSymbol()}{a.GetIsotope() or ''} {a.GetFormalCharge()}"
    print("\t".join([rec, name, res, el, ch, out]))
